"""SVG snapshots of the main screens (pytest-textual-snapshot). The data is fixed (seeded fixture, no clocks in
the view), so the pictures are deterministic. Update after a deliberate change of the look with
`pytest tests/tui --snapshot-update` and look at the new SVGs before committing them."""

from __future__ import annotations

import pytest

from tests.tui.conftest import FINISHED_ROUNDS, wait_loaded, wait_until
from tui.app import ArenaApp
from tui.screens.streamer import StreamerScreen

pytest.importorskip("pytest_textual_snapshot")


def _app(db_path: str, season: str | None = None) -> ArenaApp:
    return ArenaApp(db_path, season, poll_interval=0.2)


def _goto(key: str, rounds: int | None = FINISHED_ROUNDS):
    async def run_before(pilot) -> None:
        await wait_loaded(pilot, rounds)
        if key:
            await pilot.press(key)
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (140, 40)], ids=["80x24", "140x40"])
def test_leaderboard(season_db, snap_compare, size):
    db_path, _ = season_db
    assert snap_compare(_app(db_path), terminal_size=size, run_before=_goto(""))


def test_charts(season_db, snap_compare):
    db_path, _ = season_db
    assert snap_compare(_app(db_path), terminal_size=(80, 24), run_before=_goto("2"))


def test_previews(season_db, snap_compare):
    db_path, _ = season_db
    assert snap_compare(_app(db_path), terminal_size=(80, 24), run_before=_goto("3"))


def test_feed(season_db, snap_compare):
    db_path, _ = season_db
    assert snap_compare(_app(db_path), terminal_size=(80, 24), run_before=_goto("4"))


@pytest.mark.parametrize("size", [(80, 24)], ids=["80x24"])
def test_replay_round_3(season_db, snap_compare, size):
    db_path, _ = season_db

    async def run_before(pilot) -> None:
        await _goto("5")(pilot)
        pilot.app.screen.seek(3)
        await pilot.pause(0.2)

    assert snap_compare(_app(db_path), terminal_size=size, run_before=run_before)


def test_streamer_detail(season_db, snap_compare):
    db_path, _ = season_db

    async def run_before(pilot) -> None:
        await _goto("")(pilot)
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, StreamerScreen))
        await pilot.pause(0.2)

    assert snap_compare(_app(db_path), terminal_size=(80, 24), run_before=run_before)


def test_streamer_decisions(season_db, snap_compare):
    db_path, _ = season_db

    async def run_before(pilot) -> None:
        await _goto("")(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, StreamerScreen))
        await pilot.press("d")
        await pilot.pause(0.2)

    assert snap_compare(_app(db_path), terminal_size=(120, 30), run_before=run_before)


def test_help(season_db, snap_compare):
    db_path, _ = season_db
    assert snap_compare(_app(db_path), terminal_size=(80, 24), run_before=_goto("question_mark"))


def test_empty_season(empty_season_db, snap_compare):
    db_path, _ = empty_season_db
    assert snap_compare(_app(db_path), terminal_size=(80, 24), run_before=_goto("", rounds=0))


def test_missing_database(tmp_path, snap_compare):
    async def run_before(pilot) -> None:
        await wait_until(pilot, lambda: pilot.app.problem is not None)
        await pilot.pause(0.1)

    # a relative path, so the message is the same on every machine
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert snap_compare(_app("missing.db"), terminal_size=(80, 24), run_before=run_before)
    finally:
        os.chdir(cwd)
