"""Fixtures of the TUI tests: a finished season, a half-written one, a live writer thread appending rounds,
and helpers to drive the app with Textual's pilot."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tui.season_fixture import SeasonWriter, WriterThread

FINISHED_ROUNDS = 7

# no animations in tests: faster on a busy machine, and nothing in flight when a screenshot is taken
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def season_db(tmp_path: Path) -> Iterator[tuple[str, SeasonWriter]]:
    """A finished 7-round season (6 streamers, relegations after rounds 3 and 6) with thumbnails."""
    db = tmp_path / "arena.db"
    w = SeasonWriter(db, tmp_path / "runs" / "test-season", name="test-season", rounds=FINISHED_ROUNDS)
    w.write_all()
    yield str(db), w
    w.close()


@pytest.fixture
def two_seasons_db(tmp_path: Path) -> Iterator[tuple[str, SeasonWriter, SeasonWriter]]:
    db = tmp_path / "arena.db"
    a = SeasonWriter(db, tmp_path / "runs" / "alpha", name="alpha", rounds=4, seed=3)
    a.write_all()
    b = SeasonWriter(db, tmp_path / "runs" / "beta", name="beta", rounds=5, seed=4, streamers=4)
    for _ in range(2):
        b.write_round()
    yield str(db), a, b
    a.close()
    b.close()


@pytest.fixture
def empty_season_db(tmp_path: Path) -> Iterator[tuple[str, SeasonWriter]]:
    """A season that was created (streamers spawned) but has no round yet: what a TUI sees at start-up."""
    db = tmp_path / "arena.db"
    w = SeasonWriter(db, tmp_path / "runs" / "fresh", name="fresh", rounds=5)
    yield str(db), w
    w.close()


@pytest.fixture
def live_season(tmp_path: Path) -> Iterator[tuple[str, SeasonWriter, WriterThread]]:
    """A running season with 2 rounds written and a writer thread that appends one round per `step()`."""
    db = tmp_path / "arena.db"
    w = SeasonWriter(db, tmp_path / "runs" / "live", name="live", rounds=8)
    w.write_round()
    w.write_round()
    thread = WriterThread(w)
    thread.start()
    yield str(db), w, thread
    thread.stop()
    assert thread.error is None, thread.error
    w.close()


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)
    await pilot.pause()


async def wait_loaded(pilot, last_round: int | None = None) -> None:
    """Until the app has attached and folded the season up to `last_round` (default: whatever is there)."""
    app = pilot.app

    def ready() -> bool:
        m = app.model
        if m is None:
            return False
        if last_round is not None and m.last_round < last_round:
            return False
        return app.polls >= 2

    await wait_until(pilot, ready, what=f"season loaded to round {last_round}")
    await pilot.pause(0.1)
    await pilot.wait_for_scheduled_animations()


def run(coro) -> None:
    asyncio.run(coro)
