"""One database, many writers: two seasons written into one file at once while a reader polls it, and a commit
that meets another connection's write lock waits for it instead of failing with "database is locked"."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from arena.db import Database, Season
from common.errors import StorageError
from tests.conftest import REPO, write_config


def _season_row(name: str) -> Season:
    return Season(name=name, seed=0, config_json="{}", rounds_planned=1, run_dir=f"runs/{name}")


def _hold_write_lock(path: Path, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another connection takes the write lock (BEGIN IMMEDIATE) and keeps it for `seconds`."""
    taken = threading.Event()

    def hold() -> None:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        con.execute("COMMIT")
        con.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    return thread, taken


def test_a_held_write_lock_makes_a_commit_wait_and_succeed(tmp_path):
    path = tmp_path / "a.db"
    db = Database(str(path))
    holder, _ = _hold_write_lock(path, 1.0)
    t0 = time.monotonic()
    db.add(_season_row("late"))
    waited = time.monotonic() - t0
    holder.join()
    assert waited >= 0.5  # it really waited for the other writer
    assert [s.name for s in db.seasons()] == ["late"]


def test_a_lock_held_beyond_the_timeout_is_one_storage_error_line(tmp_path):
    path = tmp_path / "a.db"
    db = Database(str(path), busy_timeout=0.2)
    holder, _ = _hold_write_lock(path, 1.5)
    with pytest.raises(StorageError) as info:
        db.add(_season_row("never"))
    holder.join()
    msg = str(info.value)
    assert str(path) in msg and "locked" in msg and "\n" not in msg
    db.add(_season_row("after"))  # the lock is gone: the same Database writes again
    assert [s.name for s in db.seasons()] == ["after"]


def test_many_connections_opening_a_fresh_file_at_once_all_succeed(tmp_path):
    """The race the CLI met when two seasons started at the same moment: switching a fresh file to WAL does not
    wait for the lock, and "does the table exist" / CREATE TABLE interleave. Every opener must succeed."""
    errors: list[str] = []
    for i in range(8):
        path = str(tmp_path / f"fresh{i}.db")
        barrier = threading.Barrier(4)

        def open_it(path: str = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                Database(path)
            except Exception as exc:  # collected: the assertion names them
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(Database(path).seasons()) == 0
    assert errors == []


def _spawn(cfg: Path, name: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "arena", "run", "--config", str(cfg), "--name", name],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"},
    )


def _has_tables(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with sqlite3.connect(path, timeout=5) as con:
            return con.execute("select 1 from sqlite_master where name='season'").fetchone() is not None
    except sqlite3.Error:
        return False


def _poll(path: Path, stop: threading.Event, seen: dict[str, object]) -> None:
    """The reader: every read must succeed while both seasons write (only waiting for the file is allowed)."""
    while not stop.is_set() and not _has_tables(path):
        time.sleep(0.02)
    try:
        db = Database(str(path), create=False)
        while not stop.is_set():
            for season in db.seasons():
                db.events(season.id)
                seen[season.name] = season.rounds_done
            seen["reads"] = int(seen.get("reads", 0)) + 1
            time.sleep(0.02)
    except BaseException as exc:  # reported by the test
        seen["error"] = exc


def test_two_seasons_write_one_file_at_once_while_a_reader_polls(tmp_path):
    cfg = write_config(tmp_path, rounds=3, round_seconds=1.0, streamers=2)
    db_path = tmp_path / "arena.db"
    stop, seen = threading.Event(), {}
    reader = threading.Thread(target=_poll, args=(db_path, stop, seen), daemon=True)
    reader.start()
    procs = {name: _spawn(cfg, name, tmp_path) for name in ("a", "b")}  # same file, same moment
    try:
        outs = {name: p.communicate(timeout=280) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        stop.set()
        reader.join(10)
    for name, p in procs.items():
        assert p.returncode == 0, f"season {name}: {outs[name][1][-3000:]}"
    assert "error" not in seen, repr(seen.get("error"))
    assert int(seen.get("reads", 0)) > 0
    db = Database(str(db_path))
    seasons = {s.name: s for s in db.seasons()}
    assert sorted(seasons) == ["a", "b"]
    for s in seasons.values():
        assert s.status == "finished" and s.rounds_done == 3
        assert [r.number for r in db.rounds(s.id)] == [1, 2, 3]
