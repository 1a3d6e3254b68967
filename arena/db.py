"""The season database: SQLModel tables on SQLite (WAL mode), many seasons per file.

The append-only `Event` table is the source of truth; `StreamStat`, `Streamer.status` and friends are derived
tables kept for fast reads (TUI, reports) and are rebuilt and checked by `arena.season_replay`. A round is written in
one transaction (`Database.commit_round`), so a crash never leaves half a round behind and resume never
doubles one.

Several seasons may write one file at once, with readers polling it: every connection waits for a held lock
(`busy_timeout`, 30 s by default) instead of failing, and a session takes the write lock before its first write
(`WaitingSession`), so a commit waits its turn rather than dying with "database is locked".
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Index
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from common.errors import StorageError


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


class Chat(SQLModel, table=True):
    """One chat message of a stream (viewers' on the page, simulated viewers', external, the streamer's spoken
    lines, style-request outcomes); also a `chat` event. Text is stored as the board cleaned it: plain text."""

    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(index=True, foreign_key="season.id")
    round: int
    streamer_id: int = Field(foreign_key="streamer.id")
    message_id: int  # the board's id (monotonic within a season's run)
    name: str
    text: str
    source: str  # web | sim | twitch | youtube | streamer | arena
    kind: str = "chat"  # chat | style_request | outcome
    request_id: int | None = None


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


class Experiment(SQLModel, table=True):
    """A set of rotated mixed-policy seasons (`arena.experiment`). The plan is stored, so re-running the same
    name continues it and a report needs nothing but this file."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    config_json: str  # the base SeasonConfig every season is derived from
    policies_json: str  # the policies, in rotation order
    seasons_planned: int
    status: str = "running"  # running | stopped | finished
    created_at: float = Field(default_factory=time.time)


class ExperimentSeason(SQLModel, table=True):
    """Links a season to its experiment: block b (seed = base seed + b) and rotation r of the policy mix."""

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(index=True, foreign_key="experiment.id")
    season_id: int = Field(foreign_key="season.id", unique=True)
    block: int
    rotation: int


#: Seconds a connection waits for another writer's lock before the operation fails with StorageError.
DEFAULT_BUSY_TIMEOUT = 30.0
_LOCKED = ("database is locked", "database table is locked", "database schema is locked")

T = TypeVar("T")


def is_locked(exc: BaseException) -> bool:
    """SQLite's "another connection holds the lock" (SQLITE_BUSY / SQLITE_LOCKED), however it was wrapped."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(m in text for m in _LOCKED)


def retry_locked(fn: Callable[[], T], timeout: float = DEFAULT_BUSY_TIMEOUT) -> T:
    """Run `fn`; while SQLite answers "database is locked", wait (doubling, with jitter) and run it again,
    for at most `timeout` seconds in all. SQLite's own busy handler waits inside one statement, but it gives up
    at once where waiting could deadlock (a journal-mode switch, a read transaction upgrading to a write), so
    those are retried from outside. The last error is re-raised when the time is up."""
    deadline = time.monotonic() + timeout
    wait = 0.02
    while True:
        try:
            return fn()
        except (sqlite3.OperationalError, sa_exc.OperationalError) as exc:
            left = deadline - time.monotonic()
            if not is_locked(exc) or left <= 0:
                raise
        time.sleep(min(left, wait * (1 + random.random())))
        wait = min(wait * 2, 1.0)


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    """The connect hook: the busy timeout first (every later statement waits for a held lock instead of
    failing), then WAL (readers never block the writer), retried because switching modes does not wait."""

    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            retry_locked(lambda: cur.execute("PRAGMA journal_mode=WAL"), busy_timeout)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    return on_connect


def database_url(db: str) -> str:
    """Accept a plain path (the usual case) or any SQLAlchemy URL."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser()}"


def make_engine(db: str, *, create: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """An engine whose SQLite connections wait up to `busy_timeout` seconds for another writer's lock."""
    url = database_url(db)
    sqlite = url.startswith("sqlite")
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout} if sqlite else {}
    engine = create_engine(url, connect_args=connect_args)
    if sqlite:
        sa_event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
    if create:
        _create_tables(engine, busy_timeout)
    return engine


def _create_tables(engine: Engine, busy_timeout: float) -> None:
    """Create the missing tables. Two seasons starting on a fresh file at once would race between "does the
    table exist" and CREATE TABLE, so on SQLite the check and the creation run under the write lock."""
    if set(SQLModel.metadata.tables) <= set(sa_inspect(engine).get_table_names()):
        return
    if engine.dialect.name != "sqlite":
        SQLModel.metadata.create_all(engine)
        return
    with engine.connect() as conn:
        retry_locked(lambda: conn.exec_driver_sql("BEGIN IMMEDIATE"), busy_timeout)
        try:
            SQLModel.metadata.create_all(conn)
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


class WaitingSession(Session):
    """A Session whose first write takes SQLite's write lock up front (BEGIN IMMEDIATE), retried with backoff
    while another writer holds it. Waiting there, before anything of this session is sent, is always safe to
    repeat; a lock lost halfway through a flush could not be retried without losing the session's changes.
    A lock held beyond the timeout ends in StorageError naming the file."""

    def __init__(self, engine: Engine, *, label: str, busy_timeout: float) -> None:
        super().__init__(engine, expire_on_commit=False)
        self._label = label
        self._busy_timeout = busy_timeout

    def flush(self, objects: Any = None) -> None:
        if self.new or self.deleted or self.dirty:
            self._begin_write()
        super().flush(objects)

    def _begin_write(self) -> None:
        conn = self.connection()
        if conn.dialect.name != "sqlite" or conn.connection.driver_connection.in_transaction:
            return  # not SQLite, or this transaction already wrote (and so holds the lock)
        try:
            retry_locked(lambda: conn.exec_driver_sql("BEGIN IMMEDIATE"), self._busy_timeout)
        except sa_exc.OperationalError as exc:
            if is_locked(exc):
                raise StorageError(_locked_message(self._label, self._busy_timeout)) from None
            raise


def _locked_message(label: str, busy_timeout: float) -> str:
    return f"database {label}: locked by another writer for more than {busy_timeout:g} s"


def storage_message(label: str, exc: BaseException, busy_timeout: float) -> str:
    """One line saying why the database file cannot be used."""
    lines = str(getattr(exc, "orig", None) or exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    if is_locked(exc):
        return _locked_message(label, busy_timeout)
    if "not a database" in text:
        return f"database {label}: not a SQLite database ({text})"
    if "malformed" in text:
        return f"database {label}: damaged SQLite database ({text})"
    if "unable to open" in text:
        return f"database {label}: cannot open the file (missing folder or no permission)"
    return f"database {label}: unusable ({text})"


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

    def __init__(self, db: str, *, create: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        """Open (and with `create`, set up) the database. `busy_timeout`: seconds any write waits for another
        writer's lock before StorageError. A file that is not a usable SQLite database raises StorageError
        here, before anything is written, and is left as it was."""
        self.url = database_url(db)
        self.busy_timeout = busy_timeout
        self.label = self.url.removeprefix("sqlite:///")
        try:
            self.engine = make_engine(db, create=create, busy_timeout=busy_timeout)
            if not create:  # connect now, so a bad file is reported here rather than at the first read
                with self.engine.connect():
                    pass
        except (sqlite3.DatabaseError, sa_exc.DatabaseError) as exc:
            raise StorageError(storage_message(self.label, exc, busy_timeout)) from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose writes wait for other writers (see `WaitingSession`); objects stay loaded after
        commit, as the loop keeps using them."""
        with WaitingSession(self.engine, label=self.label, busy_timeout=self.busy_timeout) as s:
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
