"""Behaviour tests of the audience model (arena/audience.py). Synthetic topic vectors stand in for the eye's."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from pydantic import ValidationError

from arena import audience as audience_module
from arena.audience import (
    Audience,
    AudienceConfig,
    RoundAudience,
    StreamView,
    startup_abandon_probability,
)

DIM = 384
TICKS = 10


def unit_vectors(n: int, seed: int = 123) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make(size: int = 5000, seed: int = 0, **overrides) -> tuple[Audience, np.ndarray]:
    cfg = AudienceConfig(size=size, **overrides)
    topics = unit_vectors(len(cfg.topics))
    return Audience(cfg, topics, np.random.default_rng(seed)), topics


def view(
    sid: str,
    emb: np.ndarray,
    *,
    quality: float = 0.6,
    stability: float = 0.7,
    stall: float = 0.0,
    delay: float | None = 0.0,
    novelty: float = 0.0,
    ticks: int = TICKS,
    **perceived: float,
) -> StreamView:
    """`quality` sets both detail and smoothness (the picture and its frame rate); `perceived` overrides any
    of detail, speckle, smoothness, motion."""
    fields = {"detail": quality, "smoothness": quality, "motion": 0.6, **perceived}
    return StreamView(sid, emb, [stall] * ticks, delay, stability=stability, novelty=novelty, **fields)


def unrelated(topics: np.ndarray, seed: int = 7) -> np.ndarray:
    """A unit vector orthogonal to every topic prototype."""
    v = np.random.default_rng(seed).standard_normal(DIM)
    q, _ = np.linalg.qr(topics.T.astype(np.float64))
    v -= q @ (q.T @ v)
    return (v / np.linalg.norm(v)).astype(np.float32)


def series_matrix(ra: RoundAudience) -> np.ndarray:
    return np.array([ra.ern[sid]["series"] for sid in ra.ern])


def top_share(ra: RoundAudience) -> float:
    means = np.array([e["mean"] for e in ra.ern.values()])
    return float(means.max() / means.sum())


def run_rounds(aud: Audience, views: list[StreamView], rounds: int) -> list[RoundAudience]:
    return [aud.step_round(views, TICKS) for _ in range(rounds)]


# --------------------------------------------------------------------------------------------------------
def test_same_seed_same_results_and_other_seed_differs():
    results = []
    for seed in (5, 5, 6):
        aud, topics = make(seed=seed)
        views = [view(f"s{j}", topics[j], quality=0.4 + 0.05 * j, stall=0.2 * (j == 1)) for j in range(4)]
        rs = run_rounds(aud, views, 3)
        rs.append(aud.step_round(views[1:] + [view("new", topics[5], delay=4.0)], TICKS, topics[2]))
        results.append((rs, aud.state_dict()))
    (a, sa), (b, sb), (c, _) = results
    assert a == b
    for key in ("pos", "budget", "return_weight", "interest_weights"):
        np.testing.assert_array_equal(sa[key], sb[key])
    assert a != c


def test_conservation_every_tick():
    aud, topics = make(size=3000, initial_online=0.5, arrival_rate=0.05)
    views = [view(f"s{j}", topics[j], stall=0.3 * (j == 0)) for j in range(5)]
    rounds = run_rounds(aud, views, 2)
    aud.remove_stream("s2")
    rounds.append(aud.step_round(views[:2] + [view("x", topics[6], delay=None)], TICKS))
    for ra in rounds:
        watching = series_matrix(ra).sum(axis=0)
        total = watching + np.array(ra.outside_series) + np.array(ra.offline_series)
        assert total.tolist() == [3000] * TICKS
        assert (np.array(ra.online_series) + np.array(ra.offline_series)).tolist() == [3000] * TICKS
        assert ra.online_mean == pytest.approx(np.mean(ra.online_series))
        assert ra.outside_mean == pytest.approx(np.mean(ra.outside_series))
    counts = aud.counts()
    assert counts["offline"] + counts["browsing"] + sum(counts["watching"].values()) == 3000


def test_stalling_stream_loses_viewers_to_identical_smooth_one():
    aud, topics = make(size=10000)
    views = [view("smooth", topics[0]), view("stalling", topics[0], stall=0.3)]
    ra = run_rounds(aud, views, 3)[-1]
    assert ra.ern["stalling"]["mean"] < 0.5 * ra.ern["smooth"]["mean"]
    # Viewers who sat through stalls return less (K&S 2.32% per failure); nobody else is touched.
    assert aud.return_weight.min() < 1.0
    assert aud.return_weight.min() >= (1 - 0.0232) ** (0.3 * 3 * TICKS) - 1e-5


def test_stalls_are_perceived_in_the_lobby_too():
    # no K&S leave hazard: the stall must still cost the stream choosers (Dobrian: largest effect)
    aud, topics = make(size=10000, w_social=0.0, rebuffer_playtime_slope=0.0)
    views = [view("smooth", topics[0]), view("stalling", topics[0], stall=0.3)]
    ra = run_rounds(aud, views, 2)[-1]
    assert ra.ern["stalling"]["mean"] < 0.5 * ra.ern["smooth"]["mean"]


def _all_watching(size: int, stall: float, **overrides) -> tuple[Audience, RoundAudience]:
    """Everyone watches one stream; browsing is final (huge no-click mass), nobody reconsiders or departs."""
    overrides.setdefault("arrival_rate", 0.0)
    aud, topics = make(
        size=size, initial_online=1.0, time_budget=1e9, reconsider_rate=0.0, no_click_mass=1e9, **overrides
    )
    v = view("a", topics[0], stall=stall)
    aud.step_round([v], 1)
    state = aud.state_dict()
    state["pos"][:] = 0
    state["budget"][:] = 1e9
    state["return_weight"][:] = 1.0
    aud.load_state_dict(state)
    return aud, aud.step_round([v], TICKS)


def test_rebuffering_raises_leave_hazard_as_krishnan_sitaraman():
    h = 1 / 20.0
    for r in (0.0, 0.1):
        _, ra = _all_watching(20000, stall=r, mean_watch_seconds=20.0)
        left = ra.ern["a"]["series"][-1] / 20000
        # play time x (1 - 5 r)  <=>  hazard h / (1 - 5 r)
        assert left == pytest.approx(math.exp(-h / (1 - 5 * r) * TICKS), abs=0.015)


def test_failed_ticks_lower_the_return_rate():
    aud, ra = _all_watching(5000, stall=1.0, mean_watch_seconds=1e6, arrival_rate=0.05)
    stayed = aud.pos == 0
    assert stayed.sum() > 4500
    # one fully stalled tick = one K&S failure: return weight x (1 - 2.32%) per tick sat through
    np.testing.assert_allclose(aud.return_weight[stayed], (1 - 0.0232) ** TICKS, rtol=1e-5)
    # and the lower weight really thins arrivals: send everyone offline and let them come back
    state = aud.state_dict()
    state["pos"][:] = -2
    half = np.arange(5000) < 2500
    state["return_weight"][half] = 0.2
    state["return_weight"][~half] = 1.0
    aud.load_state_dict(state)
    aud.step_round([view("a", np.ones(DIM, np.float32))], 1)
    back = aud.pos != -2
    assert back[half].sum() < 0.4 * back[~half].sum()


def _watchers_of_a_meet_better_b(**overrides) -> RoundAudience:
    """Everyone online watches stream a; a clearly better b appears; one tick."""
    aud, topics = make(size=20000, initial_online=1.0, arrival_rate=0.0, w_social=0.0, **overrides)
    a = view("a", topics[0], quality=0.5)
    b = view("b", topics[0], quality=1.0, stability=1.0, novelty=1.0)
    aud.step_round([a, b], 1)
    state = aud.state_dict()
    state["pos"][:] = 0
    aud.load_state_dict(state)
    return aud.step_round([a, b], 1)


def test_inertia_and_switching_cost_slow_down_moves():
    assert _watchers_of_a_meet_better_b(reconsider_rate=0.0).joins["b"] == 0
    p_reconsider = 1 - math.exp(-0.1)
    moved = _watchers_of_a_meet_better_b(reconsider_rate=0.1, switch_bonus=0.0).joins["b"] / 20000
    assert 0.4 * p_reconsider < moved < p_reconsider
    sticky = _watchers_of_a_meet_better_b(reconsider_rate=0.1, switch_bonus=3.0).joins["b"] / 20000
    assert sticky < 0.5 * moved


def test_startup_abandonment_curve_anchors():
    cfg = AudienceConfig()
    p = startup_abandon_probability(np.array([0.0, 2.0, 5.0, 10.0, 11.0, 100.0, np.inf]), cfg)
    np.testing.assert_allclose(p, [0.0, 0.0, 0.25, 0.5, 0.558, 1.0, 1.0], atol=1e-9)


def _first_tick_arrivals(delay: float | None, **overrides) -> RoundAudience:
    aud, topics = make(size=20000, initial_online=1.0, **overrides)
    return aud.step_round([view("a", topics[0], quality=1.0, delay=delay)], 1)


def test_startup_delay_10s_loses_about_half_of_arrivals():
    # w_startup = 0 isolates K&S abandonment from the lobby penalty (a separate modelling choice)
    fast, slow = _first_tick_arrivals(0.0, w_startup=0.0), _first_tick_arrivals(10.0, w_startup=0.0)
    assert fast.joins == slow.joins and fast.abandoned["a"] == 0
    assert slow.ern["a"]["mean"] / fast.ern["a"]["mean"] == pytest.approx(0.5, abs=0.03)
    assert slow.abandoned["a"] / slow.joins["a"] == pytest.approx(0.5, abs=0.03)
    mid = _first_tick_arrivals(5.0, w_startup=0.0)
    assert mid.ern["a"]["mean"] / fast.ern["a"]["mean"] == pytest.approx(0.75, abs=0.03)
    # with the default lobby penalty the slow starter loses at least as much
    assert _first_tick_arrivals(10.0).ern["a"]["mean"] <= slow.ern["a"]["mean"]
    # a stream with no frame yet keeps nobody
    assert _first_tick_arrivals(None).ern["a"]["peak"] == 0


def test_startup_delay_only_matters_until_the_stream_has_started():
    aud, topics = make(size=10000, initial_online=1.0)
    v = view("a", topics[0], delay=10.0)
    first = aud.step_round([v], TICKS)
    assert first.abandoned["a"] > 0
    second = aud.step_round([v], TICKS)  # the first frame came 10 s after the start: joiners wait no more
    assert second.joins["a"] > 0 and second.abandoned["a"] == 0


def test_stream_matching_interests_beats_unrelated_one():
    aud, topics = make(size=10000)
    population_mean = topics.mean(axis=0)
    views = [view("match", population_mean / np.linalg.norm(population_mean)), view("unrelated", unrelated(topics))]
    ra = run_rounds(aud, views, 3)[-1]
    assert ra.ern["match"]["mean"] > 3 * ra.ern["unrelated"]["mean"]


def test_perceived_quality_trend_and_novelty_each_attract_viewers():
    for field, better, worse in (("quality", 0.9, 0.3), ("stability", 1.0, 0.0), ("novelty", 1.0, 0.0)):
        aud, topics = make(size=10000, w_social=0.0)
        views = [view("better", topics[0], **{field: better}), view("worse", topics[0], **{field: worse})]
        ra = run_rounds(aud, views, 2)[-1]
        assert ra.ern["better"]["mean"] > 1.1 * ra.ern["worse"]["mean"], field
    aud, topics = make(size=10000, w_social=0.0)
    views = [view("on_trend", topics[0]), view("off_trend", topics[1])]
    trend = topics[0]
    ra = [aud.step_round(views, TICKS, trend_embedding=trend) for _ in range(2)][-1]
    aud2, _ = make(size=10000, w_social=0.0)
    ra2 = run_rounds(aud2, views, 2)[-1]
    ratio_trend = ra.ern["on_trend"]["mean"] / ra.ern["off_trend"]["mean"]
    ratio_plain = ra2.ern["on_trend"]["mean"] / ra2.ern["off_trend"]["mean"]
    assert ratio_trend > 1.3 * ratio_plain


def test_social_proof_produces_skew():
    shares = {}
    for w in (0.0, 0.8):
        aud, topics = make(size=20000, seed=3, w_social=w)
        # same content, slightly different quality: without social proof shares stay near 1/8
        views = [view(f"s{j}", topics[0], quality=0.45 + 0.02 * j) for j in range(8)]
        shares[w] = top_share(run_rounds(aud, views, 20)[-1])
    assert shares[0.0] < 0.2
    assert shares[0.8] > shares[0.0] + 0.15


def test_remove_stream_sends_its_viewers_to_browsing():
    aud, topics = make(size=8000)
    views = [view(f"s{j}", topics[j]) for j in range(3)]
    run_rounds(aud, views, 2)
    before = aud.counts()
    assert before["watching"]["s1"] > 0
    aud.remove_stream("s1")
    after = aud.counts()
    assert after["browsing"] == before["browsing"] + before["watching"]["s1"]
    assert after["offline"] == before["offline"]
    assert after["watching"] == {"s0": before["watching"]["s0"], "s2": before["watching"]["s2"]}
    aud.remove_stream("never-seen")  # no-op
    assert aud.counts() == after
    # a stream missing from the next round's views is removed the same way; a new id starts empty
    ra = aud.step_round([views[0], view("fresh", topics[4])], 1)
    assert aud.stream_ids == ["s0", "fresh"]
    assert ra.joins["fresh"] == ra.ern["fresh"]["series"][0]


def test_state_dict_round_trip_gives_identical_continuation():
    aud, topics = make(size=6000, seed=11)
    views = [view(f"s{j}", topics[j], quality=0.3 + 0.1 * j, stall=0.1 * (j == 2)) for j in range(4)]
    run_rounds(aud, views, 2)
    saved = aud.state_dict()
    cont = run_rounds(aud, views, 2)
    cont.append(aud.step_round(views[:2] + [view("new", topics[7], delay=3.0)], TICKS, topics[1]))

    other = Audience(aud.config, topics, np.random.default_rng(999))
    other.load_state_dict(saved)
    again = run_rounds(other, views, 2)
    again.append(other.step_round(views[:2] + [view("new", topics[7], delay=3.0)], TICKS, topics[1]))
    assert again == cont
    np.testing.assert_array_equal(other.pos, aud.pos)
    np.testing.assert_array_equal(other.budget, aud.budget)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValidationError):
        AudienceConfig(sizee=10)
    with pytest.raises(ValidationError):
        AudienceConfig(startup_abandon_curve=[(5.0, 0.5), (2.0, 0.1)])
    cfg = AudienceConfig(size=10)
    with pytest.raises(ValueError):
        Audience(cfg, unit_vectors(len(cfg.topics) + 1), np.random.default_rng(0))
    aud = Audience(cfg, unit_vectors(len(cfg.topics)), np.random.default_rng(0))
    v = view("a", unit_vectors(1)[0])
    with pytest.raises(ValueError):
        aud.step_round([v, v], TICKS)
    with pytest.raises(ValueError):
        aud.step_round([v], 0)


def _traced_lines(size: int) -> tuple[int, RoundAudience]:
    """Python line events inside arena/audience.py during one round."""
    aud, topics = make(size=size)
    views = [view(f"s{j}", topics[j], stall=0.2 * (j == 3)) for j in range(8)]
    target = audience_module.__file__
    lines = 0

    def local(frame, event, arg):
        nonlocal lines
        if event == "line":
            lines += 1
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename == target else None

    sys.settrace(tracer)
    try:
        ra = aud.step_round(views, TICKS)
    finally:
        sys.settrace(None)
    return lines, ra


def test_100k_viewers_step_without_a_python_loop_per_viewer():
    small, _ = _traced_lines(1000)
    big, ra = _traced_lines(100_000)
    assert big <= small + 20  # the Python work is per stream and tick, never per viewer
    watching = series_matrix(ra).sum(axis=0)
    assert (watching + np.array(ra.outside_series) + np.array(ra.offline_series) == 100_000).all()
    assert 0.2 * 100_000 < ra.online_mean < 0.4 * 100_000


def test_discovery_bonus_lets_a_new_stream_in():
    """A newcomer identical to an established stream draws more viewers with the discovery bonus than without."""
    drawn = {}
    for w_new in (0.0, 1.5):
        aud, topics = make(size=20000, seed=5, w_new=w_new)
        old = view("old", topics[0])
        run_rounds(aud, [old, view("b", topics[1])], 6)
        ra = aud.step_round([old, view("b", topics[1]), view("new", topics[0])], TICKS)
        drawn[w_new] = ra.ern["new"]["mean"]
    assert drawn[1.5] > 1.5 * drawn[0.0]


def test_detail_and_smoothness_attract_and_speckle_repels():
    for field, better, worse in (("detail", 0.6, 0.3), ("smoothness", 0.9, 0.4), ("speckle", 0.0, 0.6)):
        aud, topics = make(size=10000, w_social=0.0)
        views = [view("better", topics[0], **{field: better}), view("worse", topics[0], **{field: worse})]
        ra = run_rounds(aud, views, 2)[-1]
        assert ra.ern["better"]["mean"] > 1.1 * ra.ern["worse"]["mean"], field


def test_a_picture_that_stops_changing_loses_viewers_over_time():
    aud, topics = make(size=20000, w_social=0.0)
    views = [view("frozen", topics[0], motion=0.0, stability=1.0), view("alive", topics[0], motion=0.6)]
    rounds = run_rounds(aud, views, 6)
    share = [r.ern["frozen"]["mean"] / (r.ern["frozen"]["mean"] + r.ern["alive"]["mean"]) for r in rounds]
    assert share[-1] < share[0] - 0.1 and share[-1] < 0.4  # boredom grows with time
    assert rounds[-1].terms["frozen"]["boredom"] < -1.0 and rounds[-1].terms["alive"]["boredom"] == 0.0


def test_attention_is_elastic_poor_lobbies_draw_fewer_eyes():
    def total(**kw) -> float:
        aud, topics = make(size=20000, seed=2)
        views = [view(f"s{j}", topics[j], **kw) for j in range(4)]
        return sum(sum(r.ern[v.stream_id]["mean"] for v in views) for r in run_rounds(aud, views, 8)[-4:])

    good = total(quality=0.8, motion=0.6)
    poor = total(quality=0.1, motion=0.0, stall=0.5, speckle=0.8)
    assert poor <= 0.5 * good


def test_interests_follow_trends():
    aud, topics = make(size=20000, w_social=0.0, trend_pull=0.2)
    views = [view("trending", topics[0]), view("other", topics[1])]
    before = run_rounds(aud, views, 2)[-1]
    popularity = np.zeros(len(topics))
    popularity[0] = 1.0
    for _ in range(5):
        aud.drift_interests(popularity)
        after = aud.step_round(views, TICKS)
    ratio = lambda r: r.ern["trending"]["mean"] / r.ern["other"]["mean"]  # noqa: E731
    assert ratio(after) > 1.5 * ratio(before)


def test_every_term_is_recorded_per_stream_and_explains_the_gap():
    aud, topics = make(size=10000, w_social=0.0)
    views = [view("match", topics[0], detail=0.7), view("other", unrelated(topics), detail=0.2)]
    ra = run_rounds(aud, views, 2)[-1]
    assert set(ra.terms) == {"match", "other"}
    assert set(ra.terms["match"]) == set(audience_module.TERMS)
    assert ra.terms["match"]["topic"] > ra.terms["other"]["topic"]
    assert ra.terms["match"]["detail"] == pytest.approx(2 * ra.terms["other"]["detail"] * 0.7 / 0.4, rel=1e-3)
