"""The season database: SQLModel tables on SQLite (WAL mode), many seasons per file.

The append-only `Event` table is the source of truth; `StreamStat`, `Streamer.status` and friends are derived
tables kept for fast reads (TUI, reports) and are rebuilt and checked by `arena.season_replay`. A round is written in
one transaction (`Database.commit_round`), so a crash never leaves half a round behind and resume never
doubles one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Index
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select


class Season(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    seed: int
    status: str = "running"  # running | stopped | finished
    config_json: str  # the validated SeasonConfig, as JSON
    rounds_planned: int
    rounds_done: int = 0
    run_dir: str
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


class Streamer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(index=True, foreign_key="season.id")
    slot: str  # stable handle within the season, e.g. "s03"; used in file names and events
    name: str
    persona_json: str
    settings_json: str  # settings at birth
    parent_id: int | None = Field(default=None, foreign_key="streamer.id")
    origin: str = "pool"  # pool | exploit | fresh
    born_round: int = 0
    relegated_round: int | None = None
    status: str = "live"  # live | relegated


class Round(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(index=True, foreign_key="season.id")
    number: int
    sim_time: float  # engine stream-time at the end of the round
    online_viewers: int = 0
    wall_seconds: float = 0.0
    finished_at: float = Field(default_factory=time.time)


class StreamStat(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(index=True, foreign_key="season.id")
    round: int
    streamer_id: int = Field(foreign_key="streamer.id")
    rank: int
    ern_mean: float
    ern_peak: int
    share: float
    rating_mu: float
    rating_sigma: float
    frames_generated: int
    frames_output: int
    buffer_level: int
    stall_count: int
    stall_seconds: float
    startup_delay: float | None = None
    ttcp: float | None = None
    real_viewers: int = 0
    metrics_json: str = "{}"
    thumbnail: str | None = None  # path relative to the season's run dir


class Action(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(index=True, foreign_key="season.id")
    round: int
    streamer_id: int = Field(foreign_key="streamer.id")
    tool: str
    args_json: str
    result: str
    ok: bool


class Event(SQLModel, table=True):
    """Append-only log. `id` is monotonic (SQLite INTEGER PRIMARY KEY, never reused with AUTOINCREMENT)."""

    __table_args__ = (Index("ix_event_season_round", "season_id", "round"), {"sqlite_autoincrement": True})
    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(foreign_key="season.id")
    round: int
    tick: int = 0
    kind: str = Field(index=True)
    payload_json: str = "{}"
    created_at: float = Field(default_factory=time.time)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def database_url(db: str) -> str:
    """Accept a plain path (the usual case) or any SQLAlchemy URL."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser()}"


def make_engine(db: str, *, create: bool = True) -> Engine:
    url = database_url(db)
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    if url.startswith("sqlite"):
        sa_event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        SQLModel.metadata.create_all(engine)
    return engine


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class Database:
    """Thin, explicit access layer. Writers use `commit_round`; readers (TUI, reports) use the query helpers."""

    def __init__(self, db: str, *, create: bool = True):
        self.url = database_url(db)
        self.engine = make_engine(db, create=create)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    # ---- writes -------------------------------------------------------------------------------------------
    def add(self, *rows: SQLModel) -> None:
        with self.session() as s:
            for r in rows:
                s.add(r)
            s.commit()
            for r in rows:
                s.refresh(r)

    @staticmethod
    def event(season_id: int, round: int, kind: str, payload: dict[str, Any], tick: int = 0) -> Event:
        return Event(season_id=season_id, round=round, tick=tick, kind=kind, payload_json=dumps(payload))

    # ---- reads --------------------------------------------------------------------------------------------
    def season(self, key: int | str) -> Season | None:
        with self.session() as s:
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                row = s.get(Season, int(key))
                if row is not None:
                    return row
            return s.exec(select(Season).where(Season.name == str(key))).first()

    def seasons(self) -> list[Season]:
        with self.session() as s:
            return list(s.exec(select(Season).order_by(Season.id)))

    def streamers(self, season_id: int) -> list[Streamer]:
        with self.session() as s:
            return list(s.exec(select(Streamer).where(Streamer.season_id == season_id).order_by(Streamer.id)))

    def stats(self, season_id: int, round: int | None = None) -> list[StreamStat]:
        with self.session() as s:
            q = select(StreamStat).where(StreamStat.season_id == season_id)
            if round is not None:
                q = q.where(StreamStat.round == round)
            return list(s.exec(q.order_by(StreamStat.round, StreamStat.rank)))

    def rounds(self, season_id: int) -> list[Round]:
        with self.session() as s:
            return list(s.exec(select(Round).where(Round.season_id == season_id).order_by(Round.number)))

    def actions(self, season_id: int, streamer_id: int | None = None) -> list[Action]:
        with self.session() as s:
            q = select(Action).where(Action.season_id == season_id)
            if streamer_id is not None:
                q = q.where(Action.streamer_id == streamer_id)
            return list(s.exec(q.order_by(Action.id)))

    def events(
        self, season_id: int, *, after_id: int = 0, kinds: Iterable[str] | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events in log order; `after_id` makes polling readers cheap (the TUI's change feed)."""
        with self.session() as s:
            q = select(Event).where(Event.season_id == season_id, Event.id > after_id)
            if kinds is not None:
                q = q.where(Event.kind.in_(list(kinds)))
            q = q.order_by(Event.id)
            if limit is not None:
                q = q.limit(limit)
            return list(s.exec(q))
