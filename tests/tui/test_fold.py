"""The relegation zone the TUI shows is the league's (`arena.rules`), and empty when nobody can be relegated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.rules import relegation_zone, rounds_into_window, window_ern
from tests.tui.conftest import FINISHED_ROUNDS
from tests.tui.season_fixture import SeasonWriter
from tui.fold import SeasonModel, shown_zone
from tui.model import RoundTable, SeasonInfo
from tui.poller import SeasonSource


def _fold(db_path: str, season: str | None = None) -> SeasonModel:
    src = SeasonSource(db_path, season)
    try:
        res = src.poll()
        while res.more:
            res = src.poll()
    finally:
        src.close()
    assert res.model is not None, res.problem
    return res.model


def _zone(table: RoundTable) -> set[int]:
    """Who the round's table marks: in the zone, or already relegated by that round's window."""
    return {r.streamer_id for r in table.rows if r.status in ("zone", "relegated")}


@pytest.fixture
def written(tmp_path: Path) -> Iterator[tuple[Path, list[SeasonWriter]]]:
    """Seasons a test writes into one database (closed afterwards)."""
    writers: list[SeasonWriter] = []
    yield tmp_path, writers
    for w in writers:
        w.close()


def _season(written: tuple[Path, list[SeasonWriter]], name: str, **kwargs: int) -> str:
    tmp, writers = written
    w = SeasonWriter(tmp / "arena.db", tmp / "runs" / name, name=name, thumbnails=False, **kwargs)
    writers.append(w)
    w.write_all()
    return str(tmp / "arena.db")


def test_zone_is_the_rules_zone_on_the_fixture_season(season_db):
    """Round by round, the fold's zone equals `arena.rules.relegation_zone` over the window ERN the rules
    compute from the ERN history and the round's ratings, and each window relegates exactly its zone."""
    db_path, w = season_db
    model = _fold(db_path)
    info = model.info
    series = model.ern_series()
    relegated = {s.id: s.relegated_round for s in model.streamers() if s.status == "relegated"}
    assert sorted(relegated.values()) == [3, 6]
    for r in model.rounds():
        table = model.table(r)
        into = rounds_into_window(r, info.relegation_every)
        window = {
            row.streamer_id: window_ern([e for k, e in series[row.streamer_id] if k <= r], into) for row in table.rows
        }
        assert window == {row.streamer_id: row.window_ern for row in table.rows}
        ordinal = {row.streamer_id: row.rating for row in table.rows}
        expected = relegation_zone(window, ordinal, info.relegation_fraction) if r < FINISHED_ROUNDS else []
        assert len(expected) == (1 if r < FINISHED_ROUNDS else 0)  # 20% of 6 while a window is ahead
        assert _zone(table) == set(expected), f"round {r}"
        if r in (3, 6):
            assert {sid for sid, gone in relegated.items() if gone == r} == set(expected)
    assert not _zone(model.table(FINISHED_ROUNDS))  # after round 6 no window is left: no zone in round 7
    assert {row.status for row in model.live_table().rows} == {"live"}


def test_no_zone_when_no_window_is_left(written):
    """Two rounds with a window every 3: relegation can never happen, so nobody is ever in the zone."""
    model = _fold(_season(written, "short", rounds=2, every=3))
    assert model.rounds() == [1, 2]
    for r in model.rounds():
        assert {row.status for row in model.table(r).rows} == {"live"}
    assert not [s for s in model.streamers() if s.status == "relegated"]


def test_lone_streamer_is_never_in_the_zone(written):
    model = _fold(_season(written, "lone", streamers=1, rounds=5, every=2))
    assert model.rounds() == [1, 2, 3, 4, 5] and len(model.live_ids()) == 1
    for r in model.rounds():
        assert [row.status for row in model.table(r).rows] == ["live"]
    assert not [s for s in model.streamers() if s.status == "relegated"]


def test_shown_zone():
    info = SeasonInfo(1, "s", 0, "running", rounds_planned=7, rounds_done=0, run_dir="", relegation_every=3)
    two = {1: [5.0, 5.0, 5.0, 5.0], 2: [9.0, 9.0, 9.0, 1.0]}
    flat = {1: 0.0, 2: 0.0}
    assert shown_zone(3, info, {k: h[:3] for k, h in two.items()}, flat) == [1]  # the window's bottom: one of two
    assert shown_zone(4, info, two, flat) == [2]  # a window opens at round 4: only its own ERN counts
    assert shown_zone(7, info, two, flat) == []  # no window after the last round
    assert shown_zone(6, info, {1: [5.0]}, {1: 0.0}) == []  # alone: nobody to be relegated by
    short = SeasonInfo(1, "s", 0, "running", rounds_planned=3, rounds_done=0, run_dir="", relegation_every=3)
    assert shown_zone(1, short, two, flat) == []  # the only window would follow the last round
