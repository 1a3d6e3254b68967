"""The report's numbers: headline figures, league tables at each window, per-streamer and per-agent summaries.

Pure functions of a `SeasonData` (no database, no drawing), so the tests check each number against a direct
SQL query. The league rules are not restated here: window ERN and the window order come from `arena.rules`,
the displayed rating from `arena.scoring.ordinal`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from arena.report.data import SeasonData
from arena.rules import is_window_round, window_ern, window_order
from arena.scoring import ordinal


@dataclass(frozen=True)
class Headline:
    """What a streaming admin asks first. `None` means the database does not hold it (said in the report)."""

    streams_created: int
    rounds_played: int
    relegations: int
    peak_online_viewers: int | None  # max over rounds of the round's mean online simulated viewers
    peak_watching: float | None  # max over rounds of the summed ERN of all streams (simulated + real)
    peak_stream_ern: int | None  # the largest single-stream ERN peak of any round
    peak_real_viewers: int | None  # max over rounds of real viewers summed over streams
    # distinct viewers that played any stream (the broadcast's count, the largest a round recorded: it restarts
    # with the process, so a resumed season shows the larger run's); None when nothing was broadcast
    distinct_real_viewers: int | None
    keyframes_generated: int
    stall_seconds: float
    content_positive_rounds: float | None  # fraction of stream-rounds that were content-positive
    leader: str | None  # the streamer with the highest mean ERN over its rounds
    llm_calls: int
    llm_tokens: int


@dataclass(frozen=True)
class LeagueRow:
    rank: int
    streamer_id: int
    name: str
    slot: str
    policy: str
    window_ern: float | None  # the window's ERN (None in the final table, which ranks by the round's ERN)
    ern: float  # this round's ERN
    share: float
    rating: float  # openskill ordinal after this round
    verdict: str  # relegated | safe | live


@dataclass(frozen=True)
class LeagueTable:
    round: int
    kind: str  # window | final
    rows: list[LeagueRow]


@dataclass(frozen=True)
class StreamerSummary:
    streamer_id: int
    label: str
    policy: str
    rounds: int
    mean_ern: float
    mean_share: float
    peak_ern: int
    ttcp: float | None  # the last TTCP the stream reported (None: never content-positive to stay)
    content_positive: float | None  # fraction of its rounds that were content-positive
    stall_seconds: float
    mean_terms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentSummary:
    """One actor's decisions and LLM traffic (actor: a streamer's slot, or spawnN for persona writing)."""

    actor: str
    name: str
    policy: str
    decisions: int
    failed_decisions: int
    decision_seconds: float | None  # mean
    tool_calls: dict[str, int]  # tool -> calls made (ok or not) through the decision's actions
    failed_tool_calls: int
    llm_calls: int
    llm_tool_calls: dict[str, int]  # tool -> calls the model asked for (an unknown tool's name included)
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_mean: float | None
    latency_p95: float | None
    llm_errors: int


def headline(d: SeasonData) -> Headline:
    by_round: dict[int, list] = defaultdict(list)
    for s in d.stream_rounds:
        by_round[s.round].append(s)
    cp = [s.content_positive for s in d.stream_rounds if s.content_positive is not None]
    means = {x.streamer_id: x.mean_ern for x in streamer_summaries(d)}
    leader_id = max(means, key=lambda i: (means[i], -i)) if means else None
    leader = d.streamer(leader_id) if leader_id is not None else None
    return Headline(
        streams_created=len(d.streamers),
        rounds_played=len(by_round),
        relegations=len(d.relegations),
        peak_online_viewers=max((r.online_viewers for r in d.rounds), default=None),
        peak_watching=max((sum(s.ern_mean for s in v) for v in by_round.values()), default=None),
        peak_stream_ern=max((s.ern_peak for s in d.stream_rounds), default=None),
        peak_real_viewers=max((sum(s.real_viewers for s in v) for v in by_round.values()), default=None),
        distinct_real_viewers=max(d.distinct_real_viewers.values(), default=None),
        keyframes_generated=sum(s.frames_generated for s in d.stream_rounds),
        stall_seconds=float(sum(s.stall_seconds for s in d.stream_rounds)),
        content_positive_rounds=(sum(cp) / len(cp)) if cp else None,
        leader=leader.label if leader else None,
        llm_calls=len(d.llm_calls),
        llm_tokens=sum(c.prompt_tokens + c.completion_tokens for c in d.llm_calls),
    )


def league_tables(d: SeasonData) -> list[LeagueTable]:
    """The table at every window round that was played (ranked as the window ranked: window ERN, then rating),
    and the table after the last scored round (ranked by that round's ERN, as stored)."""
    rounds = d.scored_rounds
    out = []
    relegated = {(x.round, x.streamer_id) for x in d.relegations}
    history: dict[int, list[float]] = defaultdict(list)
    for r in rounds:
        rows = d.in_round(r)
        for s in rows:
            history[s.streamer_id].append(s.ern_mean)
        if is_window_round(r, d.relegation_every, d.rounds_planned):
            out.append(_table(d, r, "window", rows, history, d.relegation_every, relegated))
    if rounds:
        last = rounds[-1]
        out.append(_table(d, last, "final", d.in_round(last), history, 1, relegated))
    return out


def _table(d, r, kind, rows, history, every, relegated) -> LeagueTable:
    win = {s.streamer_id: window_ern(history[s.streamer_id], every) for s in rows}
    ords = {s.streamer_id: ordinal(s.rating_mu, s.rating_sigma) for s in rows}
    by_id = {s.streamer_id: s for s in rows}
    order = window_order(win, win, ords) if kind == "window" else [s.streamer_id for s in rows]
    table = []
    for rank, i in enumerate(order, start=1):
        info = d.streamer(i)
        verdict = "relegated" if (r, i) in relegated else ("safe" if kind == "window" else "live")
        s = by_id[i]
        table.append(
            LeagueRow(
                rank=rank if kind == "window" else s.rank,
                streamer_id=i,
                name=info.name if info else str(i),
                slot=info.slot if info else "",
                policy=info.policy if info else "",
                window_ern=win[i] if kind == "window" else None,
                ern=s.ern_mean,
                share=s.share,
                rating=ords[i],
                verdict=verdict,
            )
        )
    return LeagueTable(r, kind, table)


def streamer_summaries(d: SeasonData) -> list[StreamerSummary]:
    out = []
    for info in d.scored_streamers():
        rs = d.rounds_of(info.id)
        cp = [s.content_positive for s in rs if s.content_positive is not None]
        terms: dict[str, list[float]] = defaultdict(list)
        for s in rs:
            for k, v in s.terms.items():
                terms[k].append(v)
        out.append(
            StreamerSummary(
                streamer_id=info.id,
                label=info.label,
                policy=info.policy,
                rounds=len(rs),
                mean_ern=float(np.mean([s.ern_mean for s in rs])),
                mean_share=float(np.mean([s.share for s in rs])),
                peak_ern=max(s.ern_peak for s in rs),
                ttcp=rs[-1].ttcp,
                content_positive=(sum(cp) / len(cp)) if cp else None,
                stall_seconds=float(sum(s.stall_seconds for s in rs)),
                mean_terms={k: float(np.mean(v)) for k, v in sorted(terms.items())},
            )
        )
    return out


def term_names(d: SeasonData) -> list[str]:
    """Every ERN term any stream reported, in first-seen order (new terms appear without code changes)."""
    seen: dict[str, None] = {}
    for s in d.stream_rounds:
        for k in s.terms:
            seen.setdefault(k, None)
    return list(seen)


def agent_summaries(d: SeasonData) -> list[AgentSummary]:
    by_slot = {s.slot: s for s in d.streamers}
    actors = sorted({x.slot for x in d.decisions} | {c.actor for c in d.llm_calls})
    out = []
    for actor in actors:
        decs = [x for x in d.decisions if x.slot == actor]
        calls = [c for c in d.llm_calls if c.actor == actor]
        tools = Counter(a.tool for x in decs for a in x.actions)
        secs = [x.seconds for x in decs if x.seconds is not None]
        lat = [c.latency_s for c in calls if c.latency_s is not None]
        info = by_slot.get(actor)
        out.append(
            AgentSummary(
                actor=actor,
                name=info.name if info else "(persona writing)" if actor.startswith("spawn") else "",
                policy=(info.policy if info else "") or (decs[0].policy if decs else ""),
                decisions=len(decs),
                failed_decisions=sum(not x.ok for x in decs),
                decision_seconds=float(np.mean(secs)) if secs else None,
                tool_calls=dict(sorted(tools.items())),
                failed_tool_calls=sum(not a.ok for x in decs for a in x.actions),
                llm_calls=len(calls),
                llm_tool_calls=dict(sorted(Counter(t for c in calls for t in c.tool_calls).items())),
                prompt_tokens=sum(c.prompt_tokens for c in calls),
                completion_tokens=sum(c.completion_tokens for c in calls),
                cost=float(sum(c.cost for c in calls)),
                latency_mean=float(np.mean(lat)) if lat else None,
                latency_p95=float(np.percentile(lat, 95)) if lat else None,
                llm_errors=sum(c.error is not None for c in calls),
            )
        )
    return out


def finetune_counts(d: SeasonData) -> dict[str, int]:
    """Finetune jobs by outcome (started, done, failed, inherited) and the steps the finished ones ran."""
    out = {k: len(d.events_of(f"finetune_{k}")) for k in ("started", "done", "failed", "inherited")}
    out["steps_done"] = int(sum(int(e.payload.get("steps") or 0) for e in d.events_of("finetune_done")))
    return out
