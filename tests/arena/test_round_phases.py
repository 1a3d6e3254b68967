"""The round's phases as pure functions: observe, score and the relegation verdict, without an engine, a model or
a database (like Concordia's engine tests: the game master's rules on hand-made states)."""

from __future__ import annotations

import numpy as np

from agents.persona import Persona
from arena.audience import RoundAudience
from arena.config import SeasonConfig
from arena.roster import LiveStreamer, StreamSummary
from arena.round import apply_scores, observe, score, zone_after_round
from arena.spawning import Spawner
from media.settings import GeneratorLimits, StreamSettings
from media.trends import Trend
from policies.baselines import HoldPolicy
from tests.arena.stream_reports import make_report
from tools.control import StreamControl


def config(**over) -> SeasonConfig:
    base = {"seed": 3, "streamers": 3, "rounds": 6, "relegation": {"every": 3, "fraction": 0.34}}
    return SeasonConfig.model_validate({**base, **over})


def streamer(i: int, history: list[float], last: StreamSummary | None = None) -> LiveStreamer:
    persona = Persona(seed=f"streamer {i}").complete_offline()
    control = StreamControl(f"s{i:02d}", StreamSettings(prompt=f"scene {i}"), GeneratorLimits())
    st = LiveStreamer(i, f"s{i:02d}", f"S{i}", persona, control, 0, list(history))
    if last is not None:
        st.last = last
    return st


def test_observation_reports_the_last_round_and_the_true_zone():
    live = [streamer(1, [100.0, 90.0]), streamer(2, [50.0, 60.0]), streamer(3, [10.0, 5.0])]
    live[2].last = StreamSummary(buffer_level=2, buffer_capacity=8, stall_seconds=1.5, stall_count=2)
    cfg = config()
    zone = zone_after_round(live, cfg, 2)  # rounds 1-2 of the window played, the window closes after round 3
    assert zone == {3}
    trends = [Trend(id="t1", title="LIVE: ocean", topic="ocean waves", viewers=900)]
    obs = {st.streamer_id: observe(st, live, 3, cfg, trends, zone) for st in live}
    assert obs[3].in_relegation_zone and not obs[1].in_relegation_zone and not obs[2].in_relegation_zone
    assert obs[3].stall_seconds == 1.5 and obs[3].stall_count == 2 and obs[3].buffer_level == 2
    assert obs[1].rounds_to_relegation == 1 and obs[1].trends[0].topic == "ocean waves"
    assert [row.is_self for row in obs[2].leaderboard].count(True) == 1


def test_zone_is_empty_when_nobody_would_be_relegated():
    cfg = config()
    assert zone_after_round([streamer(1, [5.0, 1.0])], cfg, 2) == set()  # a lone streamer is never relegated
    live = [streamer(1, [100.0] * 4), streamer(2, [1.0] * 4)]
    assert zone_after_round(live, cfg, 4) == set()  # the last window (round 3) is behind: rounds 4-6 are safe
    assert zone_after_round(live, cfg, 0) == set()  # nothing played yet
    assert zone_after_round(live, config(relegation={"every": 2, "fraction": 0.5}), 3) == {2}


def test_score_ranks_by_ern_adds_real_viewers_and_updates_the_streamers():
    live = [streamer(1, []), streamer(2, [])]
    reports = {"s01": make_report("s01", 12), "s02": make_report("s02", 9, stalls=1)}
    watched = RoundAudience(
        ern={"s01": {"mean": 100.0, "peak": 120}, "s02": {"mean": 80.0, "peak": 90}}, online_mean=180.0, outside_mean=0
    )
    scored = score(4, 1, live, reports, watched, {"s02": 30}, lambda slot, img: None, sim_time=24.0)
    assert [s.streamer_id for s in scored.table] == [2, 1]  # 80 simulated + 30 real viewers beat 100
    assert abs(sum(s.share for s in scored.table) - 1) < 1e-12
    kinds = [k for k, _ in scored.events]
    assert kinds == ["stall", "round_scored"]
    streams = scored.events[-1][1]["streams"]
    assert (
        streams["2"]["real_viewers"] == 30
        and streams["2"]["ern_peak"] == 120
        and streams["1"]["frames_generated"] == 12
    )
    apply_scores(scored, live)
    assert live[1].rank == 1 and live[1].ern_history == [110.0] and live[1].last.stall_count == 1


def test_relegation_verdict_only_at_a_window_and_takes_the_window_bottom():
    cfg = config(relegation={"every": 2, "fraction": 0.34, "fresh_probability": 0.0})
    rngs = {"evolution": np.random.default_rng(0), "spawn": np.random.default_rng(1)}
    pool = [Persona(seed=f"pool {i}") for i in range(3)]
    spawner = Spawner(cfg, HoldPolicy(), pool, rngs)
    # last round alone would relegate 1; the 2-round window relegates 3
    live = [streamer(1, [90.0, 5.0]), streamer(2, [50.0, 40.0]), streamer(3, [10.0, 20.0])]
    assert spawner.relegation(3, live, set()).relegated == []  # not a window round
    verdict = spawner.relegation(2, live, {"S1", "S2", "S3"})
    assert [(st.streamer_id, w) for st, w in verdict.relegated] == [(3, 15.0)]
    assert len(verdict.plans) == 1 and verdict.plans[0].origin == "exploit" and verdict.plans[0].parent_id in (1, 2)
    assert spawner.relegation(6, live, set()).relegated == []  # no relegation after the season's last round
