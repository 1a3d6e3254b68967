"""A season read out of the database into typed values, for the report (read-only: nothing is written).

Why both the derived tables and the event log: `StreamStat` rows are the typed, checked per-round numbers
(ERN, share, rank, rating, frames, buffer, stalls, TTCP, thumbnail), while what only the log holds (the ERN
terms, what viewers perceived, the settings streamed with, buffer capacity, content-positivity, decisions,
LLM calls, reflections, lineage mutations) comes from the events. Payloads are read defensively and
generically: a term, a metric or an event kind this code has never heard of is carried along, not dropped,
and a field that is missing reads as absent (None), never as an invented zero.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.db import Database, Event
from common.errors import ConfigError
from tools.control import ActionRecord

#: Event kinds the report reads into their own values; every other kind is kept in `SeasonData.other_events`.
READ_KINDS = ("streamer_spawned", "round_scored", "decision", "relegated", "llm_call", "reflection")


@dataclass(frozen=True)
class StreamerInfo:
    id: int
    slot: str
    name: str
    origin: str  # pool | exploit | fresh
    parent_id: int | None
    born_round: int
    relegated_round: int | None
    status: str
    policy: str  # "" when the spawn event does not say
    persona: dict[str, Any]
    settings: dict[str, Any]  # at birth
    mutations: tuple[dict[str, Any], ...]  # what an exploit/fresh spawn changed (the spawn event's list)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.slot})"


@dataclass(frozen=True)
class StreamRound:
    """One streamer in one scored round: the `StreamStat` row plus what its `round_scored` entry adds."""

    round: int
    streamer_id: int
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
    startup_delay: float | None
    ttcp: float | None
    real_viewers: int
    thumbnail: str | None
    metrics: dict[str, float]
    buffer_capacity: int | None = None
    content_positive: bool | None = None
    terms: dict[str, float] = field(default_factory=dict)  # ERN terms: utils per choosing viewer
    perceived: dict[str, float] = field(default_factory=dict)
    perceived_topic: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundInfo:
    number: int
    sim_time: float
    online_viewers: int
    wall_seconds: float


@dataclass(frozen=True)
class Decision:
    round: int
    streamer_id: int
    slot: str
    policy: str
    ok: bool
    error: str | None
    seconds: float | None
    actions: tuple[ActionRecord, ...]


@dataclass(frozen=True)
class LLMCall:
    round: int
    actor: str  # a streamer's slot for decisions and reflections, spawnN for persona writing
    purpose: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_s: float | None
    tool_calls: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class Relegation:
    round: int
    streamer_id: int
    window_ern: float | None


@dataclass(frozen=True)
class Reflection:
    round: int
    streamer_id: int
    slot: str
    text: str


@dataclass(frozen=True)
class LogEvent:
    """Any other event (finetunes, persona outcomes, policy_ready, status changes, kinds added later)."""

    round: int
    kind: str
    payload: dict[str, Any]


@dataclass
class SeasonData:
    id: int
    name: str
    seed: int
    status: str
    rounds_planned: int
    rounds_done: int
    config: dict[str, Any]
    run_dir: Path | None  # None when the season's run folder is not found from here
    run_dir_stored: str
    streamers: list[StreamerInfo]
    rounds: list[RoundInfo]
    stream_rounds: list[StreamRound]
    decisions: list[Decision]
    relegations: list[Relegation]
    llm_calls: list[LLMCall]
    reflections: list[Reflection]
    other_events: list[LogEvent]
    event_counts: dict[str, int]
    notes: list[str]  # what is partial or missing, shown at the top of the report
    finetune_seconds: dict[int, float] = field(default_factory=dict)  # round -> device s of finetune steps
    distinct_real_viewers: dict[int, int] = field(default_factory=dict)  # round -> distinct so far (broadcast)

    # ---- views -----------------------------------------------------------------------------------------------
    @property
    def scored_rounds(self) -> list[int]:
        return sorted({s.round for s in self.stream_rounds})

    def streamer(self, streamer_id: int) -> StreamerInfo | None:
        return next((s for s in self.streamers if s.id == streamer_id), None)

    def rounds_of(self, streamer_id: int) -> list[StreamRound]:
        return [s for s in self.stream_rounds if s.streamer_id == streamer_id]

    def in_round(self, r: int) -> list[StreamRound]:
        return sorted((s for s in self.stream_rounds if s.round == r), key=lambda s: s.rank)

    def scored_streamers(self) -> list[StreamerInfo]:
        """Streamers with at least one scored round, in id order."""
        ids = {s.streamer_id for s in self.stream_rounds}
        return [s for s in self.streamers if s.id in ids]

    def events_of(self, kind: str) -> list[LogEvent]:
        return [e for e in self.other_events if e.kind == kind]

    @property
    def relegation_every(self) -> int:
        return int((self.config.get("relegation") or {}).get("every", 0) or 0)

    @property
    def relegation_fraction(self) -> float:
        return float((self.config.get("relegation") or {}).get("fraction", 0.0) or 0.0)

    @property
    def is_partial(self) -> bool:
        return self.status != "finished" or self.rounds_done < self.rounds_planned


# ---- loading ---------------------------------------------------------------------------------------------------
def load_season(db: Database, key: str, *, db_path: str | None = None) -> SeasonData:
    """The season `key` (name or id) as typed values. A season that is running, stopped, empty or half-written
    loads as far as it goes, with `notes` saying what is missing. `db_path` helps find a relative run folder."""
    season = db.season(key)
    if season is None:
        raise ConfigError(f"no season {key!r} in {db.url}")
    sid = int(season.id)
    config = _json_object(season.config_json)
    notes: list[str] = []
    # A running season commits a round (its rows, events and rounds_done) in one transaction, but the reads
    # below are separate: everything past the rounds_done read first is left out, so the report is the
    # consistent state after that round even while the next one commits.
    done = season.rounds_done
    events = [e for e in db.events(sid) if e.round <= done]
    counts = Counter(e.kind for e in events)
    streamers = _streamers(db, sid, events, done)
    stream_rounds = _stream_rounds(db, sid, events, notes, done)
    rounds = [
        RoundInfo(r.number, r.sim_time, r.online_viewers, r.wall_seconds) for r in db.rounds(sid) if r.number <= done
    ]
    run_dir = _find_run_dir(season.run_dir, db_path)
    data = SeasonData(
        id=sid,
        name=season.name,
        seed=season.seed,
        status=season.status,
        rounds_planned=season.rounds_planned,
        rounds_done=season.rounds_done,
        config=config,
        run_dir=run_dir,
        run_dir_stored=season.run_dir,
        streamers=streamers,
        rounds=rounds,
        stream_rounds=stream_rounds,
        decisions=[_decision(e) for e in events if e.kind == "decision"],
        relegations=[_relegation(e) for e in events if e.kind == "relegated"],
        llm_calls=[_llm_call(e) for e in events if e.kind == "llm_call"],
        reflections=[_reflection(e) for e in events if e.kind == "reflection"],
        other_events=[LogEvent(e.round, e.kind, _payload(e)) for e in events if e.kind not in READ_KINDS],
        event_counts=dict(counts),
        notes=notes,
        finetune_seconds=_per_round(events, "finetune_seconds", float),  # device s of finetune steps
        distinct_real_viewers=_per_round(events, "distinct_real_viewers", int),  # the broadcast's count
    )
    notes[:0] = _status_notes(data)
    return data


def _status_notes(d: SeasonData) -> list[str]:
    out = []
    if d.status == "running":
        out.append(
            f"Season still running (or killed while running): {d.rounds_done} of {d.rounds_planned} rounds "
            "stored; this report covers those rounds only."
        )
    elif d.status == "stopped":
        out.append(f"Season stopped after {d.rounds_done} of {d.rounds_planned} rounds; resume it to finish.")
    elif d.rounds_done < d.rounds_planned:
        out.append(f"Season marked {d.status} with {d.rounds_done} of {d.rounds_planned} rounds.")
    if not d.stream_rounds:
        out.append("No round has been scored yet: there is nothing to plot.")
    if d.run_dir is None:
        out.append(
            f"Run folder {d.run_dir_stored!r} not found from here: no filmstrip or timelapse "
            "(thumbnails live in the run folder, not in the database)."
        )
    return out


def _find_run_dir(stored: str, db_path: str | None) -> Path | None:
    """The run folder as stored (absolute, or relative to where the season ran: tried from the working
    directory and from the database file's folder)."""
    p = Path(stored)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p]
    if not p.is_absolute() and db_path and "://" not in db_path:
        candidates.append(Path(db_path).expanduser().resolve().parent / p)
    return next((c for c in candidates if c.is_dir()), None)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _payload(e: Event) -> dict[str, Any]:
    return _json_object(e.payload_json)


def _streamers(db: Database, sid: int, events: list[Event], done: int) -> list[StreamerInfo]:
    spawned = {int(p["streamer_id"]): p for p in (_payload(e) for e in events if e.kind == "streamer_spawned")}
    out = []
    for row in db.streamers(sid):
        if row.born_round > done:
            continue
        gone = row.relegated_round is not None and row.relegated_round <= done
        p = spawned.get(int(row.id), {})
        out.append(
            StreamerInfo(
                id=int(row.id),
                slot=row.slot,
                name=row.name,
                origin=row.origin,
                parent_id=row.parent_id,
                born_round=row.born_round,
                relegated_round=row.relegated_round if gone else None,
                status=row.status if gone or row.relegated_round is None else "live",
                policy=str(p.get("policy") or ""),
                persona=_json_object(row.persona_json),
                settings=_json_object(row.settings_json),
                mutations=tuple(m for m in p.get("mutations") or [] if isinstance(m, dict)),
            )
        )
    return out


def _numbers(d: Any) -> dict[str, float]:
    """The numeric entries of a payload mapping (metrics, terms, perceived), whatever their names."""
    if not isinstance(d, dict):
        return {}
    return {str(k): float(v) for k, v in d.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _stream_rounds(db: Database, sid: int, events: list[Event], notes: list[str], done: int) -> list[StreamRound]:
    scored: dict[tuple[int, int], dict[str, Any]] = {}
    for e in events:
        if e.kind == "round_scored":
            p = _payload(e)
            for k, v in (p.get("streams") or {}).items():
                if isinstance(v, dict):
                    scored[(int(p.get("round", e.round)), int(k))] = v
    out = []
    missing = 0
    for st in db.stats(sid):
        if st.round > done:
            continue
        ev = scored.get((st.round, st.streamer_id))
        missing += ev is None
        ev = ev or {}
        cap = ev.get("buffer_capacity")
        cp = ev.get("content_positive")
        out.append(
            StreamRound(
                round=st.round,
                streamer_id=st.streamer_id,
                rank=st.rank,
                ern_mean=st.ern_mean,
                ern_peak=st.ern_peak,
                share=st.share,
                rating_mu=st.rating_mu,
                rating_sigma=st.rating_sigma,
                frames_generated=st.frames_generated,
                frames_output=st.frames_output,
                buffer_level=st.buffer_level,
                stall_count=st.stall_count,
                stall_seconds=st.stall_seconds,
                startup_delay=st.startup_delay,
                ttcp=st.ttcp,
                real_viewers=st.real_viewers,
                thumbnail=st.thumbnail,
                metrics=_numbers(_json_object(st.metrics_json)),
                buffer_capacity=int(cap) if isinstance(cap, int | float) else None,
                content_positive=bool(cp) if isinstance(cp, bool) else None,
                terms=_numbers(ev.get("ern_terms")),
                perceived=_numbers(ev.get("perceived")),
                perceived_topic=str(ev.get("perceived_topic") or ""),
                settings=ev.get("settings") if isinstance(ev.get("settings"), dict) else {},
            )
        )
    if missing:
        notes.append(
            f"{missing} stream-round rows have no round_scored event entry: their ERN terms, settings and "
            "perceived measures are not shown."
        )
    return out


def _per_round(events: list[Event], key: str, kind: type) -> dict[int, Any]:
    """Round -> the value `round_scored` events record under `key`, where it is a `kind` (seasons from before
    a field was recorded, or that did not record it, give none)."""
    out = {}
    for e in events:
        if e.kind == "round_scored":
            v = _payload(e).get(key)
            if isinstance(v, kind | int) and not isinstance(v, bool):
                out[e.round] = kind(v)
    return out


def machines(d: SeasonData) -> list[tuple[int, dict[str, Any]]]:
    """(round, machine) for the season's start and each resume that recorded the machine it ran on."""
    return [
        (e.round, e.payload["machine"])
        for e in d.other_events
        if e.kind in ("season_created", "season_resumed") and isinstance(e.payload.get("machine"), dict)
    ]


def _decision(e: Event) -> Decision:
    p = _payload(e)
    acts = tuple(
        ActionRecord(
            tool=str(a.get("tool", "?")),
            args=a.get("args") if isinstance(a.get("args"), dict) else {},
            result=str(a.get("result", "")),
            ok=bool(a.get("ok", False)),
        )
        for a in p.get("actions") or []
        if isinstance(a, dict)
    )
    seconds = p.get("seconds")
    return Decision(
        round=e.round,
        streamer_id=int(p.get("streamer_id", -1)),
        slot=str(p.get("slot", "")),
        policy=str(p.get("policy", "")),
        ok=bool(p.get("ok", True)),
        error=p.get("error"),
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        actions=acts,
    )


def _relegation(e: Event) -> Relegation:
    p = _payload(e)
    w = p.get("window_ern")
    return Relegation(e.round, int(p.get("streamer_id", -1)), float(w) if isinstance(w, int | float) else None)


def _llm_call(e: Event) -> LLMCall:
    p = _payload(e)
    latency = p.get("latency_s")
    calls = tuple(str(c.get("name", "?")) for c in p.get("tool_calls") or [] if isinstance(c, dict))
    return LLMCall(
        round=int(p.get("round", e.round) or 0),
        actor=str(p.get("actor", "")),
        purpose=str(p.get("purpose", "")),
        model=str(p.get("model", "")),
        prompt_tokens=int(p.get("prompt_tokens") or 0),
        completion_tokens=int(p.get("completion_tokens") or 0),
        cost=float(p.get("cost") or 0.0),
        latency_s=float(latency) if isinstance(latency, int | float) else None,
        tool_calls=calls,
        error=p.get("error"),
    )


def _reflection(e: Event) -> Reflection:
    p = _payload(e)
    return Reflection(e.round, int(p.get("streamer_id", -1)), str(p.get("slot", "")), str(p.get("text", "")))
