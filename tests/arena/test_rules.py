"""The league rules that the loop, the observation, the TUI and replay share."""

from __future__ import annotations

from arena.rules import (
    is_window_round,
    relegation_count,
    relegation_zone,
    rounds_into_window,
    rounds_to_window,
    window_ern,
    window_order,
)


def test_relegation_count_never_takes_everyone():
    assert relegation_count(1, 0.5) == 0  # a lone streamer is never relegated
    assert relegation_count(2, 0.2) == 1  # at least one
    assert relegation_count(6, 0.2) == 1 and relegation_count(10, 0.34) == 3
    assert relegation_count(3, 1.0) == 2  # never all


def test_windows_and_counting():
    assert [is_window_round(r, 3, 10) for r in range(1, 11)] == [r in (3, 6, 9) for r in range(1, 11)]
    assert not is_window_round(4, 2, 4)  # no relegation after the last round
    assert [rounds_into_window(r, 3) for r in (1, 2, 3, 4)] == [1, 2, 3, 1]
    assert [rounds_to_window(r, 3) for r in (1, 2, 3, 4)] == [3, 2, 1, 3]
    assert rounds_to_window(5, 0) == 0


def test_window_ern_uses_the_last_rounds_only():
    assert window_ern([100.0, 10.0, 20.0], 2) == 15.0
    assert window_ern([30.0], 3) == 30.0  # a newcomer counts what it has
    assert window_ern([], 3) == 0.0


def test_zone_is_the_bottom_of_the_window_order_with_ties_broken():
    window = {1: 50.0, 2: 10.0, 3: 10.0, 4: 80.0}
    ordinal = {1: 0.0, 2: 1.0, 3: -1.0, 4: 0.0}
    assert window_order(window, window, ordinal) == [4, 1, 2, 3]
    assert relegation_zone(window, ordinal, 0.25) == [3]
    assert relegation_zone(window, ordinal, 0.5) == [2, 3]
    assert relegation_zone({7: 1.0}, {7: 0.0}, 0.5) == []  # nobody would go: nobody is in the zone


def test_standing_zone_and_windows_ahead():
    from arena.rules import standing_zone, window_ahead

    hist = {1: [10.0, 90.0], 2: [50.0, 40.0], 3: [30.0, 30.0]}
    ordinal = {1: 0.0, 2: 0.0, 3: 0.0}
    # after round 2 of a 2-round window: means 50, 45, 30 -> 3 is the bottom
    assert standing_zone(hist, ordinal, played=2, every=2, fraction=0.34) == [3]
    # after round 3 (first of the next window): only round 3 counts
    hist3 = {1: [10.0, 90.0, 5.0], 2: [50.0, 40.0, 60.0], 3: [30.0, 30.0, 70.0]}
    assert standing_zone(hist3, ordinal, played=3, every=2, fraction=0.34) == [1]
    assert window_ahead(3, 2, 4) is False and window_ahead(2, 2, 4) is True and window_ahead(1, 3, 3) is False
