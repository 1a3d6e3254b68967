"""The phases of one round as functions with typed inputs and outputs: observe, what the audience watches
(`stream_views`), score. Decide and stream are the clock's (`arena.clocks`), the relegation verdict is
`arena.spawning`'s, storage is `arena.recorder`'s; the season loop (`arena.loop.SeasonRunner.play_round`)
calls them top to bottom.

Pure where they can be: `observe`, `stream_views` and `score` read what they are given and return new values,
so they are tested without a model, an engine or a database (`tests/arena/test_round_phases.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arena.audience import RoundAudience, StreamView
from arena.config import SeasonConfig
from arena.db import Action, StreamStat, dumps
from arena.roster import LiveStreamer, StreamSummary
from arena.rules import rounds_to_window, zone_after
from arena.scoring import Standing, score_round
from media.engine_streams import StreamReport
from media.trends import Trend
from policies.decide import DecisionOutcome
from tools.observation import LeaderboardRow, Observation, TrendView

Event = tuple[str, dict[str, Any]]  # (kind, payload): what the recorder stores for the round


# ---- 1. observe ---------------------------------------------------------------------------------------------
def zone_after_round(live: Sequence[LiveStreamer], config: SeasonConfig, played: int) -> set[int]:
    """Streamer ids in the relegation zone after round `played` (`arena.rules.zone_after`): the table's zone,
    and at a window exactly who goes. Agents are told it before the next round, less anyone relegated."""
    c = config.relegation
    histories = {st.streamer_id: st.ern_history for st in live}
    ordinal = {st.streamer_id: st.rating.ordinal for st in live}
    zone = zone_after(histories, ordinal, played=played, every=c.every, fraction=c.fraction, rounds_total=config.rounds)
    return set(zone)


def observe(
    st: LiveStreamer,
    live: Sequence[LiveStreamer],
    r: int,
    config: SeasonConfig,
    trends: Sequence[Trend],
    zone: set[int],
) -> Observation:
    """What streamer `st` is told before round `r`: only values the arena computed, never another's settings."""
    ranked = sorted(live, key=lambda x: (x.rank or 10**6, x.streamer_id))
    last = st.last
    return Observation(
        stream_id=st.slot,
        name=st.name,
        round=r,
        rounds_total=config.rounds,
        rounds_to_relegation=rounds_to_window(r, config.relegation.every),
        persona_summary=f"{st.persona.character or st.persona.seed} Goals: {'; '.join(st.persona.goals)}",
        persona_style=st.persona.visual_style or st.persona.seed,
        persona_traits=st.persona.traits.model_dump(),
        ern_history=st.ern_history[-10:],
        share=st.share,
        rating=st.rating.ordinal,
        rank=st.rank,
        in_relegation_zone=st.streamer_id in zone,
        buffer_level=last.buffer_level,
        buffer_capacity=last.buffer_capacity,
        stall_seconds=last.stall_seconds,
        stall_count=last.stall_count,
        frames_generated=last.frames_generated,
        frames_output=last.frames_output,
        settings=st.control.current_settings().model_dump(),
        limits=config.generator.limits.model_dump(),
        trends=[TrendView(**t.model_dump()) for t in trends],
        leaderboard=[
            LeaderboardRow(
                rank=x.rank or i + 1,
                name=x.name,
                ern=(x.ern_history[-1] if x.ern_history else 0.0),
                share=x.share,
                rating=x.rating.ordinal,
                is_self=x is st,
            )
            for i, x in enumerate(ranked)
        ],
    )


# ---- 4. watch -----------------------------------------------------------------------------------------------
def stream_views(slots: Sequence[str], reports: dict[str, StreamReport]) -> list[StreamView]:
    """What the audience can perceive of each stream this round (novelty: distance to the nearest rival)."""
    embs = np.stack([np.asarray(reports[s].prompt_embedding, dtype=np.float32) for s in slots])
    sims = embs @ embs.T
    np.fill_diagonal(sims, -1.0)
    views = []
    for i, s in enumerate(slots):
        rep = reports[s]
        novelty = float(np.clip(1.0 - sims[i].max(), 0.0, 1.0)) if len(slots) > 1 else 0.0
        views.append(
            StreamView(
                stream_id=s,
                prompt_embedding=embs[i],
                quality=float(rep.metrics.get("quality", 0.5)),
                stability=float(rep.metrics.get("stability", 0.5)),
                stall_seconds_per_tick=list(rep.stall_seconds_per_second),
                startup_delay=rep.startup_delay,
                novelty=novelty,
            )
        )
    return views


# ---- 5. score -----------------------------------------------------------------------------------------------
@dataclass
class ScoredRound:
    """Everything round `round` adds to the store, and the standings the live streamers take on."""

    round: int
    table: list[Standing]
    summaries: dict[int, StreamSummary]  # streamer id -> its report, typed
    rows: list[Any] = field(default_factory=list)  # Action and StreamStat rows
    events: list[Event] = field(default_factory=list)
    online: float = 0.0


def decision_records(
    r: int, season_id: int, outcomes: list[DecisionOutcome], by_slot: dict[str, LiveStreamer], policy: dict[str, str]
) -> tuple[list[Event], list[Action]]:
    """One `decision` event per streamer and one Action row per tool call, failed calls included."""
    events: list[Event] = []
    rows: list[Action] = []
    for o in outcomes:
        st = by_slot[o.stream_id]
        acts = [{"tool": a.tool, "args": a.args, "result": a.result, "ok": a.ok} for a in o.actions]
        events.append(
            (
                "decision",
                {
                    "streamer_id": st.streamer_id,
                    "slot": st.slot,
                    "policy": policy[st.slot],
                    "ok": o.ok,
                    "error": o.error,
                    "seconds": round(o.seconds, 4),
                    "actions": acts,
                },
            )
        )
        rows += [
            Action(
                season_id=season_id,
                round=r,
                streamer_id=st.streamer_id,
                tool=a.tool,
                args_json=dumps(a.args),
                result=a.result,
                ok=a.ok,
            )
            for a in o.actions
        ]
    return events, rows


def score(
    r: int,
    season_id: int,
    live: Sequence[LiveStreamer],
    reports: dict[str, StreamReport],
    watched: RoundAudience,
    real: dict[str, int],
    thumbnail: Callable[[str, np.ndarray | None], str | None],
    sim_time: float,
) -> ScoredRound:
    """ERN (simulated + real viewers, stored apart), ratings, standings, one stat row and event per stream.
    `thumbnail(slot, image)` saves a stream's thumbnail and returns its path relative to the run folder."""
    by_id = {st.streamer_id: st for st in live}
    real_by_id = {st.streamer_id: int(real.get(st.slot, 0)) for st in live}
    ern = {i: float(watched.ern[st.slot]["mean"]) + real_by_id[i] for i, st in by_id.items()}
    _, table = score_round({i: by_id[i].rating for i in ern}, ern)
    out = ScoredRound(r, table, {}, online=watched.online_mean)
    streams: dict[str, Any] = {}
    for stand in table:
        st = by_id[stand.streamer_id]
        rep = reports[st.slot]
        summary = StreamSummary.from_report(rep)
        out.summaries[st.streamer_id] = summary
        peak = int(watched.ern[st.slot]["peak"]) + real_by_id[st.streamer_id]
        streams[str(st.streamer_id)] = {
            **summary.to_dict(),
            "ern_mean": stand.ern_mean,
            "ern_peak": peak,
            "slot": st.slot,
            "real_viewers": real_by_id[st.streamer_id],
            "settings": rep.settings,
        }
        out.rows.append(_stat_row(r, season_id, st, stand, rep, summary, peak, real_by_id[st.streamer_id], thumbnail))
        if rep.stall_count > 0:
            out.events.append(
                (
                    "stall",
                    {
                        "streamer_id": st.streamer_id,
                        "slot": st.slot,
                        "stall_count": rep.stall_count,
                        "stall_seconds": rep.stall_seconds,
                    },
                )
            )
    out.events.append(
        ("round_scored", {"round": r, "sim_time": sim_time, "online": watched.online_mean, "streams": streams})
    )
    return out


def _stat_row(
    r: int,
    season_id: int,
    st: LiveStreamer,
    stand: Standing,
    rep: StreamReport,
    summary: StreamSummary,
    peak: int,
    real: int,
    thumbnail: Callable[[str, np.ndarray | None], str | None],
) -> StreamStat:
    return StreamStat(
        season_id=season_id,
        round=r,
        streamer_id=st.streamer_id,
        rank=stand.rank,
        ern_mean=stand.ern_mean,
        ern_peak=peak,
        share=stand.share,
        rating_mu=stand.rating.mu,
        rating_sigma=stand.rating.sigma,
        frames_generated=rep.frames_generated,
        frames_output=rep.frames_output,
        buffer_level=rep.buffer_level,
        stall_count=rep.stall_count,
        stall_seconds=rep.stall_seconds,
        startup_delay=rep.startup_delay,
        ttcp=rep.ttcp,
        real_viewers=real,
        metrics_json=dumps(summary.metrics),
        thumbnail=thumbnail(st.slot, rep.thumbnail),
    )


def apply_scores(scored: ScoredRound, live: Sequence[LiveStreamer]) -> None:
    """The live streamers take on the round's standings (history, rating, rank, share, last report)."""
    by_id = {st.streamer_id: st for st in live}
    for stand in scored.table:
        st = by_id[stand.streamer_id]
        st.last = scored.summaries[st.streamer_id]
        st.ern_history.append(stand.ern_mean)
        st.rating, st.rank, st.share = stand.rating, stand.rank, stand.share
