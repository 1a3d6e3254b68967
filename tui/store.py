"""Read-only access to a season database: the only module of the TUI that touches `arena.db`.

Screens and the fold get plain values (`tui.model`) from here and never see SQL or ORM rows. Opening never
creates a file, and every query is a short WAL read transaction, so a reader never blocks the season writing
the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arena.db import Database
from tui.model import EventRecord, SeasonInfo


class DatabaseMissing(Exception):
    """The database file does not exist (the TUI never creates one)."""


def db_exists(db_path: str) -> bool:
    """A URL is assumed to exist (the engine will say otherwise); a path must be a file."""
    return "://" in db_path or Path(db_path).expanduser().is_file()


def resolve_run_dir(run_dir: str, db_path: str) -> str:
    """A season's run dir is stored as the runner saw it (often relative to its working directory). Try that,
    then relative to the database's folder."""
    if not run_dir:
        return ""
    p = Path(run_dir).expanduser()
    if p.is_absolute():
        return str(p)
    if p.exists():
        return str(p.resolve())
    if "://" not in db_path:
        alt = Path(db_path).expanduser().resolve().parent / p
        if alt.exists():
            return str(alt)
    return str(p.resolve())


class ArenaData:
    """Read-only access to a season database. Opening never creates a file."""

    def __init__(self, db_path: str):
        if not db_exists(db_path):
            raise DatabaseMissing(f"database {db_path} does not exist")
        self.db_path = db_path
        self.db = Database(db_path, create=False)

    def close(self) -> None:
        self.db.engine.dispose()

    def _info(self, row: Any) -> SeasonInfo:
        try:
            cfg = json.loads(row.config_json or "{}")
        except (TypeError, ValueError):
            cfg = {}
        rel = cfg.get("relegation") or {}
        return SeasonInfo(
            id=int(row.id),
            name=str(row.name),
            seed=int(row.seed),
            status=str(row.status),
            rounds_planned=int(row.rounds_planned),
            rounds_done=int(row.rounds_done),
            run_dir=resolve_run_dir(row.run_dir, self.db_path),
            relegation_every=int(rel.get("every", 3) or 3),
            relegation_fraction=float(rel.get("fraction", 0.2) or 0.2),
            policy=str(cfg.get("policy", "")),
            streamers_planned=int(cfg.get("streamers", 0) or 0),
            clock=str(cfg.get("clock", "")),
        )

    def seasons(self) -> list[SeasonInfo]:
        return [self._info(s) for s in self.db.seasons()]

    def season(self, key: int | str | None) -> SeasonInfo | None:
        """A season by id or name; None: the latest season (highest id)."""
        if key is None:
            rows = self.db.seasons()
            return self._info(rows[-1]) if rows else None
        row = self.db.season(key)
        return self._info(row) if row is not None else None

    def events(self, season_id: int, after_id: int = 0, limit: int | None = None) -> list[EventRecord]:
        """The season's events after `after_id`, in log order; an unreadable payload becomes a marker rather
        than an error, so one bad row cannot stop the feed."""
        out = []
        for e in self.db.events(season_id, after_id=after_id, limit=limit):
            try:
                payload = json.loads(e.payload_json or "{}")
            except ValueError:
                payload = {"unreadable_payload": (e.payload_json or "")[:200]}
            out.append(
                EventRecord(
                    int(e.id), int(e.round), str(e.kind), payload if isinstance(payload, dict) else {}, int(e.tick)
                )
            )
        return out
