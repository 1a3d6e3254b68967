"""A season's state, folded from its event log: the live table, every past round's table, the feed, lineage,
settings history and decisions.

The same fold gives the live leaderboard and every past round's table for replay, so replay needs nothing but
the log: `streamer_spawned` + `round_scored` + `relegated` rebuild each round's standings with
`arena.scoring.score_round` (the function the season loop and `arena.season_replay` fold through), and who is
shown in the relegation zone comes from `arena.rules` (the rules the loop relegates by), so the table can never
disagree with the league about ranks, ratings or the zone. Thumbnails are found by their path convention
(`thumbs/<slot>/r%05d.png` under the season's run dir) when the file exists.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from arena.rules import rounds_into_window, window_ern, zone_after
from arena.scoring import Rating, Standing, new_rating, score_round
from tui.events import (
    CHAT_KINDS,
    as_int,
    chat_summary,
    decision_summary,
    other_summary,
    parse_decision,
    parse_spawn,
    spawn_summary,
    stall_summary,
    status_summary,
)
from tui.model import (
    DecisionRecord,
    EventRecord,
    FeedItem,
    LeaderRow,
    RoundTable,
    SeasonInfo,
    SettingsChange,
    StreamerInfo,
    category_of,
)


def thumbnail_path(run_dir: str, slot: str, round_number: int) -> str | None:
    """The thumbnail of `slot` after `round_number`, by the season's path convention, if the file exists."""
    if not run_dir or not slot:
        return None
    p = os.path.join(run_dir, "thumbs", slot, f"r{round_number:05d}.png")
    return p if os.path.isfile(p) else None


def shown_zone(
    round_number: int, info: SeasonInfo, histories: Mapping[int, Sequence[float]], ordinal: Mapping[int, float]
) -> list[int]:
    """Who the table marks as in the zone after `round_number`: the league's zone (`arena.rules.zone_after`,
    the one the loop tells agents and relegates by)."""
    return zone_after(
        histories,
        ordinal,
        played=round_number,
        every=info.relegation_every,
        fraction=info.relegation_fraction,
        rounds_total=info.rounds_planned,
    )


class SeasonModel:
    """Written by one poller thread, read by the UI thread: every public read takes the lock and returns
    immutable values (or copies)."""

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
        self._last_round = 0
        self._online: dict[int, float] = {}

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

    def _apply_one(self, ev: EventRecord) -> None:
        p = ev.payload if isinstance(ev.payload, dict) else {}
        kind = ev.kind
        slot = str(p.get("slot", ""))
        if kind == "season_created":
            name = p.get("name", self._info.name)
            self._add_feed(ev, "season", None, f"season {name} created (seed {p.get('seed', '?')})")
        elif kind == "streamer_spawned":
            self._spawn(ev, p)
        elif kind == "decision":
            self._decision(ev, p)
        elif kind == "stall":
            self._add_feed(ev, "stall", as_int(p.get("streamer_id")), stall_summary(p), ok=False, slot=slot)
        elif kind == "round_scored":
            self._round(ev, p)
        elif kind == "relegated":
            self._relegate(ev, p)
        elif kind in ("season_stopped", "season_resumed", "season_finished"):
            self._add_feed(ev, "season", None, status_summary(kind, p))
        elif kind == "reflection":
            self._reflection(ev, p)
        elif kind in CHAT_KINDS:
            summary, ok = chat_summary(kind, p)
            self._add_feed(ev, category_of(kind), as_int(p.get("streamer_id")), summary, ok=ok, slot=slot)
        else:
            summary, ok = other_summary(kind, p)
            self._add_feed(ev, category_of(kind), as_int(p.get("streamer_id")), summary, ok=ok, slot=slot)

    def _spawn(self, ev: EventRecord, p: dict[str, Any]) -> None:
        info = parse_spawn(ev, p)
        sid, parent = info.id, info.parent_id
        self._streamers[sid] = info
        if parent is not None and parent in self._streamers:
            par = self._streamers[parent]
            self._streamers[parent] = replace(par, children=par.children + (sid,))
        self._ratings[sid] = new_rating()
        if sid not in self._live:
            self._live.append(sid)
        self._settings.setdefault(sid, []).append(SettingsChange(ev.round, dict(info.settings), tuple(info.settings)))
        replaced = self._streamers.get(info.replaces) if info.replaces is not None else None
        parent_name = self._name(parent)[1] if parent is not None else None
        self._add_feed(ev, "spawn", sid, spawn_summary(info, parent_name, replaced.name if replaced else None))

    def _reflection(self, ev: EventRecord, p: dict[str, Any]) -> None:
        """A streamer's lessons and plan at a window: its latest is kept on its info (the detail screen)."""
        sid, text = as_int(p.get("streamer_id")), str(p.get("text") or "")
        if sid is not None and sid in self._streamers:
            self._streamers[sid] = replace(self._streamers[sid], reflection=text)
        self._add_feed(ev, "decision", sid, f"reflects: {text}", slot=str(p.get("slot", "")))

    def _decision(self, ev: EventRecord, p: dict[str, Any]) -> None:
        sid = as_int(p.get("streamer_id"))
        rec = parse_decision(ev, p)
        if sid is not None:
            self._decisions.setdefault(sid, []).append(rec)
        ok = rec.ok and all(a.ok for a in rec.actions)
        self._add_feed(ev, "decision", sid, decision_summary(rec), ok=ok, slot=str(p.get("slot", "")))

    def _round(self, ev: EventRecord, p: dict[str, Any]) -> None:
        r = int(p.get("round", ev.round))
        streams = {int(k): v for k, v in (p.get("streams") or {}).items()}
        ern = {i: float(v.get("ern_mean") or 0.0) for i, v in streams.items()}
        for i in ern:
            if i not in self._streamers:  # a half-written log: make the streamer up rather than fail
                slot = str(streams[i].get("slot", f"#{i}"))
                self._streamers[i] = StreamerInfo(i, slot, f"#{i}", {}, {}, None, "unknown", r)
                self._live.append(i)
        new, table = score_round({i: self._ratings.get(i, new_rating()) for i in ern}, ern)
        self._ratings.update(new)
        for s in table:
            self._ern.setdefault(s.streamer_id, []).append((r, s.ern_mean))
        histories = {i: self._history(i) for i in ern}
        into = rounds_into_window(r, self._info.relegation_every)  # the column shows what the zone ranks by
        window = {i: window_ern(h, into) for i, h in histories.items()}
        zone = set(shown_zone(r, self._info, histories, {i: new[i].ordinal for i in ern}))
        rows = tuple(self._row(s, streams[s.streamer_id], r, s.streamer_id in zone, window) for s in table)
        for s in table:
            self._last_rank[s.streamer_id] = s.rank
        for row in rows:
            self._last_row[row.streamer_id] = row
        online = float(p.get("online") or 0.0)
        self._tables[r] = RoundTable(r, float(p.get("sim_time") or 0.0), online, rows)
        self._online[r] = online
        self._last_round = max(self._last_round, r)
        if table:
            lead = self._streamers[table[0].streamer_id]
            summary = f"round {r} scored: {lead.name} leads with {table[0].ern_mean:.1f} ERN, {online:.0f} online"
        else:
            summary = f"round {r} scored (no streams)"
        self._add_feed(ev, "round", None, summary)

    def _history(self, sid: int) -> list[float]:
        return [e for _, e in self._ern.get(sid, [])]

    def _row(self, s: Standing, v: dict[str, Any], r: int, in_zone: bool, window: Mapping[int, float]) -> LeaderRow:
        """A streamer's line of round `r` (its settings history is noted on the way)."""
        i = s.streamer_id
        st = self._streamers[i]
        settings = v.get("settings") or {}
        if settings:
            self._note_settings(i, r, settings)
        return LeaderRow(
            streamer_id=i,
            slot=st.slot,
            name=st.name,
            rank=s.rank,
            ern=s.ern_mean,
            ern_peak=as_int(v.get("ern_peak")),
            share=s.share,
            rating=s.rating.ordinal,
            rating_mu=s.rating.mu,
            rating_sigma=s.rating.sigma,
            prev_rank=self._last_rank.get(i),
            stall_count=int(v.get("stall_count") or 0),
            stall_seconds=float(v.get("stall_seconds") or 0.0),
            buffer_level=as_int(v.get("buffer_level")),
            buffer_capacity=as_int(v.get("buffer_capacity")),
            status="zone" if in_zone else "live",
            thumbnail=thumbnail_path(self._info.run_dir, st.slot, r),
            history=tuple(self._history(i)[-self.HISTORY :]),
            settings=settings,
            window_ern=window[i],
        )

    def _note_settings(self, sid: int, r: int, settings: dict[str, Any]) -> None:
        """Keep an entry only when some setting changed since the streamer's previous one."""
        hist = self._settings.setdefault(sid, [])
        prev = hist[-1].settings if hist else {}
        changed = tuple(k for k in settings if prev.get(k) != settings.get(k))
        if changed:
            hist.append(SettingsChange(r, dict(settings), changed))

    def _relegate(self, ev: EventRecord, p: dict[str, Any]) -> None:
        sid = int(p["streamer_id"])
        window = p.get("window_ern")
        w = float(window) if window is not None else None
        st = self._streamers.get(sid)
        if st is not None:
            self._streamers[sid] = replace(st, status="relegated", relegated_round=ev.round, window_ern=w)
        self._ratings.pop(sid, None)
        if sid in self._live:
            self._live.remove(sid)
        table = self._tables.get(ev.round)
        if table is not None:
            rows = tuple(replace(r, status="relegated") if r.streamer_id == sid else r for r in table.rows)
            self._tables[ev.round] = replace(table, rows=rows)
        if sid in self._last_row:
            self._last_row[sid] = replace(self._last_row[sid], status="relegated")
        note = f" (window ERN {w:.1f})" if w is not None else ""
        self._add_feed(ev, "relegated", sid, f"relegated{note}", ok=False, slot=str(p.get("slot", "")))

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
            rows += [self._newcomer(sid) for sid in self._live if sid not in have]
            if base is None:
                return RoundTable(0, 0.0, 0.0, tuple(rows))
            return replace(base, rows=tuple(rows))

    def _newcomer(self, sid: int) -> LeaderRow:
        """A streamer spawned after the last scored round: in the table, with no numbers yet."""
        st = self._streamers[sid]
        return LeaderRow(
            streamer_id=sid,
            slot=st.slot,
            name=st.name,
            rank=None,
            ern=None,
            ern_peak=None,
            share=None,
            rating=None,
            rating_mu=None,
            rating_sigma=None,
            prev_rank=None,
            stall_count=0,
            stall_seconds=0.0,
            buffer_level=None,
            buffer_capacity=None,
            status="new",
            thumbnail=None,
            history=tuple(self._history(sid)[-self.HISTORY :]),
            settings=dict(st.settings),
        )

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
