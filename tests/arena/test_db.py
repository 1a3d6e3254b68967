"""The season database: WAL mode, monotonic append-only event ids, many seasons per file, readers by name."""

import sqlite3

import pytest

from arena.db import Database, Event, Season
from common.errors import StorageError


def test_wal_mode_and_monotonic_events(tmp_path):
    path = tmp_path / "a.db"
    db = Database(str(path))
    db.add(Season(name="one", seed=1, config_json="{}", rounds_planned=1, run_dir="runs/one"))
    season = db.season("one")
    with sqlite3.connect(path) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    db.add(*(Database.event(season.id, 0, "k", {"i": i}) for i in range(3)))
    ids = [e.id for e in db.events(season.id)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    # AUTOINCREMENT: a deleted last id is never reused, so a reader's `after_id` cursor stays valid
    with db.session() as s:
        s.delete(s.get(Event, ids[-1]))
        s.commit()
    db.add(Database.event(season.id, 0, "k", {"i": 3}))
    assert db.events(season.id)[-1].id > ids[-1]
    assert [e.payload["i"] for e in db.events(season.id, after_id=ids[0])] == [1, 3]


def test_lookup_by_name_or_id_and_many_seasons(tmp_path):
    db = Database(str(tmp_path / "a.db"))
    for n in ("alpha", "beta"):
        db.add(Season(name=n, seed=0, config_json="{}", rounds_planned=1, run_dir=f"runs/{n}"))
    assert [s.name for s in db.seasons()] == ["alpha", "beta"]
    assert db.season("beta").id == db.season(str(db.season("beta").id)).id
    assert db.season("gamma") is None


def test_a_file_that_is_not_sqlite_is_one_storage_error_line_and_left_as_it_was(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"my notes, not a database\n" * 40)
    before = path.read_bytes()
    for create in (True, False):
        with pytest.raises(StorageError) as info:
            Database(str(path), create=create)
        msg = str(info.value)
        assert str(path) in msg and "not a SQLite database" in msg and "\n" not in msg
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]  # no -wal / -shm left behind
