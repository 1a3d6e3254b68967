"""Everything the TUI reads, and the season state it derives from the event log.

This is the only module of the TUI that touches the database (`arena.db`, read side only). Widgets and
screens get plain, frozen dataclasses from it and never see SQL or ORM rows.

The append-only event log is the change feed: `SeasonSource.poll()` reads the events after the last id it
has seen (`Database.events(season_id, after_id=...)`) and folds them into a `SeasonModel`. The same fold
gives the live leaderboard and every past round's table for replay, so replay needs nothing but the log:
`streamer_spawned` + `round_scored` + `relegated` rebuild each round's standings with the pure functions of
`arena.scoring` (exactly as `arena.season_replay` does), and thumbnails are found by their path convention
(`thumbs/<slot>/r%05d.png` under the season's run dir) when the file exists.

Readers never block the season: each query is a short WAL read transaction, opened and closed per poll.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from arena.db import Database
from arena.scoring import Rating, new_rating, rate_round, standings

# ---- plain data the widgets see --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeasonInfo:
    id: int
    name: str
    seed: int
    status: str  # running | stopped | finished
    rounds_planned: int
    rounds_done: int
    run_dir: str  # resolved folder of the season's artifacts
    relegation_every: int = 3
    relegation_fraction: float = 0.2
    policy: str = ""
    streamers_planned: int = 0
    clock: str = ""


@dataclass(frozen=True)
class EventRecord:
    id: int
    round: int
    kind: str
    payload: dict[str, Any]
    tick: int = 0


@dataclass(frozen=True)
class Mutation:
    field: str
    old: Any
    new: Any
    how: str


@dataclass(frozen=True)
class StreamerInfo:
    id: int
    slot: str
    name: str
    persona: dict[str, Any]
    settings: dict[str, Any]  # settings at birth
    parent_id: int | None
    origin: str
    born_round: int
    replaces: int | None = None
    mutations: tuple[Mutation, ...] = ()
    status: str = "live"  # live | relegated
    relegated_round: int | None = None
    window_ern: float | None = None
    children: tuple[int, ...] = ()


@dataclass(frozen=True)
class LeaderRow:
    """One streamer's line of a round's table."""

    streamer_id: int
    slot: str
    name: str
    rank: int | None
    ern: float | None
    ern_peak: int | None
    share: float | None
    rating: float | None  # openskill ordinal: mu - 3 sigma
    rating_mu: float | None
    rating_sigma: float | None
    prev_rank: int | None
    stall_count: int
    stall_seconds: float
    buffer_level: int | None
    buffer_capacity: int | None
    status: str  # live | zone | relegated | new
    thumbnail: str | None  # absolute path of this round's thumbnail, when the file exists
    history: tuple[float, ...] = ()  # ERN of this streamer up to this round (the last 32)
    settings: dict[str, Any] = field(default_factory=dict)
    window_ern: float | None = None

    @property
    def trend(self) -> str:
        """up | down | same | new, from the rank change against the previous round."""
        if self.rank is None or self.prev_rank is None:
            return "new"
        if self.rank < self.prev_rank:
            return "up"
        if self.rank > self.prev_rank:
            return "down"
        return "same"

    @property
    def buffer_fill(self) -> float | None:
        if self.buffer_level is None or not self.buffer_capacity:
            return None
        return max(0.0, min(1.0, self.buffer_level / self.buffer_capacity))


@dataclass(frozen=True)
class RoundTable:
    round: int
    sim_time: float
    online: float
    rows: tuple[LeaderRow, ...]

    def row(self, streamer_id: int) -> LeaderRow | None:
        return next((r for r in self.rows if r.streamer_id == streamer_id), None)


@dataclass(frozen=True)
class FeedItem:
    id: int  # event id (unique, monotonic)
    round: int
    kind: str
    category: str  # one of CATEGORIES
    streamer_id: int | None
    slot: str
    name: str
    summary: str
    ok: bool = True


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: dict[str, Any]
    result: str
    ok: bool


@dataclass(frozen=True)
class DecisionRecord:
    event_id: int
    round: int
    policy: str
    ok: bool
    error: str | None
    seconds: float
    actions: tuple[ToolCall, ...]


@dataclass(frozen=True)
class SettingsChange:
    round: int
    settings: dict[str, Any]
    changed: tuple[str, ...]  # keys that differ from the previous entry (all keys for the first)


# Feed categories, in the order the filter bar shows them.
CATEGORIES: dict[str, str] = {
    "decision": "decisions",
    "stall": "stalls",
    "finetune": "finetunes",
    "relegated": "relegations",
    "spawn": "spawns",
    "round": "rounds",
    "season": "season",
    "other": "other",
}


def category_of(kind: str) -> str:
    if kind == "decision":
        return "decision"
    if kind == "stall":
        return "stall"
    if kind.startswith("finetune"):
        return "finetune"
    if kind == "relegated":
        return "relegated"
    if kind == "streamer_spawned":
        return "spawn"
    if kind == "round_scored":
        return "round"
    if kind.startswith("season_"):
        return "season"
    return "other"


# ---- small pure helpers ---------------------------------------------------------------------------------------

SPARK_CHARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 8) -> str:
    """Unicode block sparkline of the last `width` values, scaled to their own min..max."""
    vals = [float(v) for v in values][-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi - lo < 1e-12:
        return SPARK_CHARS[3] * len(vals)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[int(round((v - lo) / (hi - lo) * top))] for v in vals)


def _short(value: Any, limit: int = 40) -> str:
    if isinstance(value, float):
        text = f"{value:.3g}"
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_args(args: dict[str, Any], limit: int = 40) -> str:
    return ", ".join(f"{k}={_short(v, limit)}" for k, v in args.items())


def zone_size(n_live: int, fraction: float) -> int:
    """How many streamers a relegation window sends down (as `arena.evolution.select_relegated`)."""
    if n_live < 2:
        return 0
    return min(n_live - 1, max(1, math.floor(n_live * fraction)))


def thumbnail_path(run_dir: str, slot: str, round_number: int) -> str | None:
    """The thumbnail of `slot` after `round_number`, by the season's path convention, if the file exists."""
    if not run_dir or not slot:
        return None
    p = os.path.join(run_dir, "thumbs", slot, f"r{round_number:05d}.png")
    return p if os.path.isfile(p) else None


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


# ---- the fold ---------------------------------------------------------------------------------------------------


class SeasonModel:
    """A season's state folded from its event log. Written by one poller thread, read by the UI thread:
    every public read takes the lock and returns immutable values."""

    HISTORY = 32

    def __init__(self, info: SeasonInfo):
        self._lock = threading.RLock()
        self._info = info
        self.version = 0
        self.last_event_id = 0
        self.event_count = 0
        self._streamers: dict[int, StreamerInfo] = {}
        self._ratings: dict[int, Rating] = {}
        self._live: list[int] = []  # streamer ids in the arena now, in spawn order
        self._ern: dict[int, list[tuple[int, float]]] = {}
        self._tables: dict[int, RoundTable] = {}
        self._last_rank: dict[int, int] = {}
        self._last_row: dict[int, LeaderRow] = {}
        self._feed: list[FeedItem] = []
        self._round_feed: dict[int, list[FeedItem]] = {}
        self._decisions: dict[int, list[DecisionRecord]] = {}
        self._settings: dict[int, list[SettingsChange]] = {}
        self._finetunes: dict[int, list[FeedItem]] = {}
        self._last_round = 0
        self._online: dict[int, float] = {}
        self._status_events: list[str] = []

    # ---- writes (poller thread) --------------------------------------------------------------------------------
    def set_info(self, info: SeasonInfo) -> bool:
        with self._lock:
            if info == self._info:
                return False
            self._info = info
            self.version += 1
            return True

    def apply(self, events: Iterable[EventRecord]) -> int:
        """Fold events in log order. The lock is taken per event, so the UI thread never waits for a batch."""
        n = 0
        for ev in events:
            with self._lock:
                if ev.id <= self.last_event_id:
                    continue
                try:
                    self._apply_one(ev)
                except Exception as exc:  # a malformed event must not take the TUI down
                    self._add_feed(
                        ev, "other", None, f"unreadable {ev.kind} event: {type(exc).__name__}: {exc}", ok=False
                    )
                self.last_event_id = ev.id
                self.event_count += 1
                n += 1
        if n:
            with self._lock:
                self.version += 1
        return n

    def _name(self, sid: int | None, fallback: str = "") -> tuple[str, str]:
        st = self._streamers.get(sid) if sid is not None else None
        if st is not None:
            return st.slot, st.name
        return fallback, f"#{sid}" if sid is not None else ""

    def _add_feed(
        self, ev: EventRecord, category: str, sid: int | None, summary: str, ok: bool = True, slot: str = ""
    ) -> None:
        s, name = self._name(sid, slot)
        item = FeedItem(ev.id, ev.round, ev.kind, category, sid, s or slot, name, summary, ok)
        self._feed.append(item)
        self._round_feed.setdefault(ev.round, []).append(item)
        if category == "finetune" and sid is not None:
            self._finetunes.setdefault(sid, []).append(item)

    def _apply_one(self, ev: EventRecord) -> None:
        p = ev.payload if isinstance(ev.payload, dict) else {}
        kind = ev.kind
        if kind == "season_created":
            self._add_feed(
                ev, "season", None, f"season {p.get('name', self._info.name)} created (seed {p.get('seed', '?')})"
            )
        elif kind == "streamer_spawned":
            self._spawn(ev, p)
        elif kind == "decision":
            self._decision(ev, p)
        elif kind == "stall":
            sid = _int(p.get("streamer_id"))
            self._add_feed(
                ev,
                "stall",
                sid,
                f"stalled {p.get('stall_count', '?')}× ({float(p.get('stall_seconds') or 0):.1f} s)",
                ok=False,
                slot=p.get("slot", ""),
            )
        elif kind == "round_scored":
            self._round(ev, p)
        elif kind == "relegated":
            self._relegate(ev, p)
        elif kind in ("season_stopped", "season_resumed", "season_finished"):
            self._status_events.append(kind)
            word = kind.removeprefix("season_")
            extra = p.get("rounds_done", p.get("after_round"))
            self._add_feed(
                ev, "season", None, f"season {word}" + (f" after round {extra}" if extra is not None else "")
            )
        else:
            sid = _int(p.get("streamer_id"))
            rest = {k: v for k, v in p.items() if k not in ("streamer_id", "slot", "name")}
            summary = f"{kind}: {format_args(rest, 24)}" if rest else kind
            self._add_feed(
                ev,
                category_of(kind),
                sid,
                summary,
                ok="error" not in kind and p.get("ok", True) is not False,
                slot=p.get("slot", ""),
            )

    def _spawn(self, ev: EventRecord, p: dict[str, Any]) -> None:
        sid = int(p["streamer_id"])
        persona = p.get("persona") or {}
        muts = tuple(
            Mutation(str(m.get("field", "")), m.get("old"), m.get("new"), str(m.get("how", "")))
            for m in p.get("mutations") or []
            if isinstance(m, dict)
        )
        parent = _int(p.get("parent_id"))
        info = StreamerInfo(
            id=sid,
            slot=str(p.get("slot", f"#{sid}")),
            name=str(p.get("name") or persona.get("name") or f"#{sid}"),
            persona=persona,
            settings=p.get("settings") or {},
            parent_id=parent,
            origin=str(p.get("origin", "pool")),
            born_round=ev.round,
            replaces=_int(p.get("replaces")),
            mutations=muts,
        )
        self._streamers[sid] = info
        if parent is not None and parent in self._streamers:
            par = self._streamers[parent]
            self._streamers[parent] = replace(par, children=par.children + (sid,))
        self._ratings[sid] = new_rating()
        if sid not in self._live:
            self._live.append(sid)
        self._settings.setdefault(sid, []).append(SettingsChange(ev.round, dict(info.settings), tuple(info.settings)))
        how = info.origin
        if parent is not None:
            how += f" of {self._name(parent)[1]}"
        if muts:
            how += f", {len(muts)} mutation{'s' if len(muts) != 1 else ''}"
        replaced = ""
        if info.replaces is not None and info.replaces in self._streamers:
            replaced = f", replaces {self._streamers[info.replaces].name}"
        self._add_feed(ev, "spawn", sid, f"spawned ({how}{replaced})")

    def _decision(self, ev: EventRecord, p: dict[str, Any]) -> None:
        sid = _int(p.get("streamer_id"))
        acts = tuple(
            ToolCall(str(a.get("tool", "?")), a.get("args") or {}, str(a.get("result", "")), bool(a.get("ok", True)))
            for a in p.get("actions") or []
            if isinstance(a, dict)
        )
        rec = DecisionRecord(
            ev.id,
            ev.round,
            str(p.get("policy", "")),
            bool(p.get("ok", True)),
            p.get("error"),
            float(p.get("seconds") or 0.0),
            acts,
        )
        if sid is not None:
            self._decisions.setdefault(sid, []).append(rec)
        if not rec.ok:
            summary = f"decision failed: {rec.error or 'unknown error'}"
        elif not acts:
            summary = "decided: no change"
        else:
            summary = "; ".join(f"{'' if a.ok else '✗ '}{a.tool}({format_args(a.args, 24)})" for a in acts)
        self._add_feed(ev, "decision", sid, summary, ok=rec.ok and all(a.ok for a in acts), slot=p.get("slot", ""))

    def _round(self, ev: EventRecord, p: dict[str, Any]) -> None:
        r = int(p.get("round", ev.round))
        streams = {int(k): v for k, v in (p.get("streams") or {}).items()}
        ern = {i: float(v.get("ern_mean") or 0.0) for i, v in streams.items()}
        for i in ern:
            if i not in self._streamers:  # a half-written log: make the streamer up rather than fail
                slot = str(streams[i].get("slot", f"#{i}"))
                self._streamers[i] = StreamerInfo(i, slot, f"#{i}", {}, {}, None, "unknown", r)
                self._live.append(i)
        new = rate_round({i: self._ratings.get(i, new_rating()) for i in ern}, ern) if ern else {}
        self._ratings.update(new)
        table = standings(ern, new) if ern else []
        info = self._info
        # the relegation window so far: rounds since the last window, like the runner's ern_history[-every:]
        every = max(1, info.relegation_every)
        into = (r - 1) % every + 1
        for s in table:
            self._ern.setdefault(s.streamer_id, []).append((r, s.ern_mean))
        window = {i: _mean([e for _, e in self._ern.get(i, [])[-into:]]) for i in ern}
        order = sorted(ern, key=lambda i: (-window[i], -new[i].ordinal, i))
        n_zone = zone_size(len(order), info.relegation_fraction)
        zone = set(order[len(order) - n_zone :]) if n_zone else set()
        rows = []
        for s in table:
            i = s.streamer_id
            v = streams[i]
            st = self._streamers[i]
            settings = v.get("settings") or {}
            rows.append(
                LeaderRow(
                    streamer_id=i,
                    slot=st.slot,
                    name=st.name,
                    rank=s.rank,
                    ern=s.ern_mean,
                    ern_peak=_int(v.get("ern_peak")),
                    share=s.share,
                    rating=s.rating.ordinal,
                    rating_mu=s.rating.mu,
                    rating_sigma=s.rating.sigma,
                    prev_rank=self._last_rank.get(i),
                    stall_count=int(v.get("stall_count") or 0),
                    stall_seconds=float(v.get("stall_seconds") or 0.0),
                    buffer_level=_int(v.get("buffer_level")),
                    buffer_capacity=_int(v.get("buffer_capacity")),
                    status="zone" if i in zone else "live",
                    thumbnail=thumbnail_path(info.run_dir, st.slot, r),
                    history=tuple(e for _, e in self._ern.get(i, [])[-self.HISTORY :]),
                    settings=settings,
                    window_ern=window[i],
                )
            )
            if settings:
                hist = self._settings.setdefault(i, [])
                prev = hist[-1].settings if hist else {}
                changed = tuple(k for k in settings if prev.get(k) != settings.get(k))
                if changed:
                    hist.append(SettingsChange(r, dict(settings), changed))
        for s in table:
            self._last_rank[s.streamer_id] = s.rank
        for row in rows:
            self._last_row[row.streamer_id] = row
        online = float(p.get("online") or 0.0)
        self._tables[r] = RoundTable(r, float(p.get("sim_time") or 0.0), online, tuple(rows))
        self._online[r] = online
        self._last_round = max(self._last_round, r)
        if table:
            lead = self._streamers[table[0].streamer_id]
            summary = f"round {r} scored: {lead.name} leads with {table[0].ern_mean:.1f} ERN, {online:.0f} online"
        else:
            summary = f"round {r} scored (no streams)"
        self._add_feed(ev, "round", None, summary)

    def _relegate(self, ev: EventRecord, p: dict[str, Any]) -> None:
        sid = int(p["streamer_id"])
        window = p.get("window_ern")
        st = self._streamers.get(sid)
        if st is not None:
            self._streamers[sid] = replace(
                st,
                status="relegated",
                relegated_round=ev.round,
                window_ern=float(window) if window is not None else None,
            )
        self._ratings.pop(sid, None)
        if sid in self._live:
            self._live.remove(sid)
        table = self._tables.get(ev.round)
        if table is not None:
            rows = tuple(replace(r, status="relegated") if r.streamer_id == sid else r for r in table.rows)
            self._tables[ev.round] = replace(table, rows=rows)
        if sid in self._last_row:
            self._last_row[sid] = replace(self._last_row[sid], status="relegated")
        w = f" (window ERN {float(window):.1f})" if window is not None else ""
        self._add_feed(ev, "relegated", sid, f"relegated{w}", ok=False, slot=p.get("slot", ""))

    # ---- reads (UI thread) ---------------------------------------------------------------------------------------
    @property
    def info(self) -> SeasonInfo:
        with self._lock:
            return self._info

    @property
    def season_id(self) -> int:
        return self._info.id

    def rounds(self) -> list[int]:
        with self._lock:
            return sorted(self._tables)

    @property
    def last_round(self) -> int:
        with self._lock:
            return self._last_round

    def table(self, round_number: int) -> RoundTable | None:
        with self._lock:
            return self._tables.get(round_number)

    def live_table(self) -> RoundTable:
        """The latest round's table, plus streamers spawned since (status `new`, no numbers yet)."""
        with self._lock:
            base = self._tables.get(self._last_round)
            rows = list(base.rows) if base else []
            have = {r.streamer_id for r in rows}
            for sid in self._live:
                if sid in have:
                    continue
                st = self._streamers[sid]
                hist = tuple(e for _, e in self._ern.get(sid, [])[-self.HISTORY :])
                rows.append(
                    LeaderRow(
                        sid,
                        st.slot,
                        st.name,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        0,
                        0.0,
                        None,
                        None,
                        "new",
                        None,
                        hist,
                        dict(st.settings),
                    )
                )
            if base is None:
                return RoundTable(0, 0.0, 0.0, tuple(rows))
            return replace(base, rows=tuple(rows))

    def last_row(self, sid: int) -> LeaderRow | None:
        """The streamer's line in the last round it played."""
        with self._lock:
            return self._last_row.get(sid)

    def streamers(self) -> list[StreamerInfo]:
        with self._lock:
            return list(self._streamers.values())

    def streamer(self, sid: int) -> StreamerInfo | None:
        with self._lock:
            return self._streamers.get(sid)

    def live_ids(self) -> list[int]:
        with self._lock:
            return list(self._live)

    def ern_series(self) -> dict[int, list[tuple[int, float]]]:
        with self._lock:
            return {i: list(v) for i, v in self._ern.items()}

    def online_series(self) -> list[tuple[int, float]]:
        with self._lock:
            return sorted(self._online.items())

    def feed_len(self) -> int:
        with self._lock:
            return len(self._feed)

    def feed(self, start: int = 0) -> list[FeedItem]:
        with self._lock:
            return self._feed[start:]

    def round_feed(self, round_number: int) -> list[FeedItem]:
        with self._lock:
            return list(self._round_feed.get(round_number, []))

    def decisions(self, sid: int) -> list[DecisionRecord]:
        with self._lock:
            return list(self._decisions.get(sid, []))

    def settings_history(self, sid: int) -> list[SettingsChange]:
        with self._lock:
            return list(self._settings.get(sid, []))

    def streamer_feed(self, sid: int) -> list[FeedItem]:
        with self._lock:
            return [f for f in self._feed if f.streamer_id == sid]


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


# ---- the database side -------------------------------------------------------------------------------------------


class DatabaseMissing(Exception):
    """The database file does not exist (the TUI never creates one)."""


def db_exists(db_path: str) -> bool:
    return "://" in db_path or Path(db_path).expanduser().is_file()


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


@dataclass(frozen=True)
class PollResult:
    model: SeasonModel | None
    problem: str | None  # a line for the user when there is nothing (yet) to show
    changed: bool
    more: bool = False  # more events are waiting (poll again without sleeping)
    seasons: tuple[SeasonInfo, ...] | None = None


class SeasonSource:
    """The poller's state: open the database when it exists, attach to the season, fold new events.
    Called from one worker thread only."""

    BATCH = 2000

    def __init__(self, db_path: str, season: str | None):
        self.db_path = db_path
        self.key = season
        self.data: ArenaData | None = None
        self.model: SeasonModel | None = None
        self.problem: str | None = None
        self._polls = 0

    def close(self) -> None:
        if self.data is not None:
            self.data.close()

    def poll(self) -> PollResult:
        self._polls += 1
        problem: str | None = None
        changed = False
        more = False
        seasons: tuple[SeasonInfo, ...] | None = None
        try:
            if self.data is None:
                self.data = ArenaData(self.db_path)
                changed = True
            if self.model is None or self._polls % 4 == 1:
                seasons = tuple(self.data.seasons())
            if self.model is None:
                info = self.data.season(self.key)
                if info is None:
                    problem = (
                        f"no season {self.key!r} in {self.db_path}"
                        if self.key is not None
                        else f"no seasons in {self.db_path} yet — waiting for one to start"
                    )
                else:
                    self.model = SeasonModel(info)
                    changed = True
            if self.model is not None:
                events = self.data.events(self.model.season_id, after_id=self.model.last_event_id, limit=self.BATCH)
                more = len(events) >= self.BATCH
                if self.model.apply(events):
                    changed = True
                info = self.data.season(self.model.season_id)
                if info is not None and self.model.set_info(info):
                    changed = True
        except DatabaseMissing as exc:
            problem = str(exc)
        except Exception as exc:  # a locked, corrupt or foreign file: say so and keep trying
            problem = (
                f"cannot read {self.db_path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
        if problem != self.problem:
            changed = True
            self.problem = problem
        return PollResult(self.model, problem, changed, more, seasons)
