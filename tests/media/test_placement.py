"""Placement of streams on engine actors: least-loaded, freed on relegation, the same after a resume."""

from __future__ import annotations

import pytest

from media.placement import Placement


def test_new_streams_go_to_the_least_loaded_actor_and_relegation_frees_the_slot():
    p = Placement(2)
    assert [p.place(s) for s in ("s01", "s02", "s03")] == [0, 1, 0]
    assert p.load() == [2, 1]
    assert p.free("s01") == 0  # relegated
    assert p.load() == [1, 1]
    assert p.place("s04") == 0  # a tie goes to the lowest index
    assert p.place("s05") == 1
    assert p.streams_on(0) == ["s03", "s04"] and p.streams_on(1) == ["s02", "s05"]


def test_state_round_trip_keeps_placement_and_next_choice():
    p = Placement(3)
    for s in ("a", "b", "c", "d"):
        p.place(s)
    p.free("b")
    q = Placement.from_state(p.state_dict())
    assert q.owner == p.owner and q.load() == p.load()
    assert q.place("e") == p.place("e") == 1


def test_bad_use_is_refused():
    with pytest.raises(ValueError):
        Placement(0)
    p = Placement(1)
    p.place("a")
    with pytest.raises(ValueError):
        p.place("a")
    with pytest.raises(KeyError):
        p.of("zz")
