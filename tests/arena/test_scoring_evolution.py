import numpy as np

from agents.persona import Persona
from arena.evolution import Candidate, explore_settings, plan_respawns, select_relegated
from arena.scoring import new_rating, rate_round, standings
from media.settings import GeneratorLimits, StreamSettings


def test_ratings_follow_ern_and_standings_rank_by_ern():
    ratings = {i: new_rating() for i in (1, 2, 3)}
    for _ in range(3):
        ratings = rate_round(ratings, {1: 50.0, 2: 10.0, 3: 30.0})
    assert ratings[1].ordinal > ratings[3].ordinal > ratings[2].ordinal
    table = standings({1: 50.0, 2: 10.0, 3: 30.0}, ratings)
    assert [s.streamer_id for s in table] == [1, 3, 2]
    assert abs(sum(s.share for s in table) - 1) < 1e-12 and abs(table[0].share - 50 / 90) < 1e-12


def cands(n):
    return [
        Candidate(
            i, f"n{i}", Persona(seed=f"streamer {i}", name=f"n{i}"), StreamSettings(prompt=f"p{i}"), float(i * 10), 0.0
        )
        for i in range(1, n + 1)
    ]


def test_bottom_fraction_at_least_one():
    assert [c.streamer_id for c in select_relegated(cands(3), 0.2)] == [1]
    assert sorted(c.streamer_id for c in select_relegated(cands(10), 0.2)) == [1, 2]


def test_exploit_copies_a_top_streamer_and_explores():
    cs = cands(10)
    gone = select_relegated(cs, 0.2)
    plans = plan_respawns(
        cs,
        gone,
        [],
        StreamSettings(),
        GeneratorLimits(),
        np.random.default_rng(3),
        top_fraction=0.2,
        fresh_probability=0.0,
        resample_probability=0.25,
        taken_names={c.name for c in cs},
    )
    assert len(plans) == 2
    for p in plans:
        assert p.origin == "exploit" and p.parent_id in (9, 10)
        assert p.mutations[0]["how"] == "exploit"
        assert p.persona.name not in {c.name for c in cs}
    assert plans[0].persona.name != plans[1].persona.name


def test_fresh_respawn_from_pool():
    cs = cands(5)
    pool = [Persona(seed="a desert nomad who streams sunsets")]
    plans = plan_respawns(
        cs,
        select_relegated(cs, 0.2),
        pool,
        StreamSettings(),
        GeneratorLimits(),
        np.random.default_rng(0),
        top_fraction=0.2,
        fresh_probability=1.0,
        resample_probability=0.25,
        taken_names=set(),
    )
    assert plans[0].origin == "fresh" and plans[0].parent_id is None and "desert" in plans[0].settings.prompt


def test_explore_settings_stays_in_limits():
    lim = GeneratorLimits()
    rng = np.random.default_rng(0)
    s = StreamSettings(fps=4.0, steps=2, resolution=96, strength=0.5)
    for _ in range(100):
        new, changes = explore_settings(s, lim, rng, 0.25)
        assert lim.fps_min <= new.fps <= lim.fps_max and lim.steps_min <= new.steps <= lim.steps_max
        assert new.resolution in lim.resolutions and new.prompt == s.prompt
        assert {c["field"] for c in changes} == {
            "settings.fps",
            "settings.strength",
            "settings.steps",
            "settings.resolution",
            "settings.seed",
        }
