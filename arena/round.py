"""The phases of one round as functions with typed inputs and outputs: observe, what the audience watches
(`stream_views`), score. Decide and stream are the clock's (`arena.clocks`), the relegation verdict is
`arena.spawning`'s, storage is `arena.recorder`'s; the season loop (`arena.loop.SeasonRunner.play_round`)
calls them top to bottom.

Pure where they can be: `observe`, `stream_views` and `score` read what they are given and return new values,
so they are tested without a model, an engine or a database (`tests/arena/test_round_phases.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arena.audience import RoundAudience, StreamView
from arena.config import SeasonConfig
from arena.db import Action, StreamStat, dumps
from arena.roster import LiveStreamer, StreamSummary
from arena.rules import line_gap, rounds_to_window, zone_after
from arena.scoring import Standing, score_round
from media import perception
from media.engine_streams import StreamReport
from media.eye import Eye
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
    demand: Mapping[str, int] | None = None,
    device_load: float = 0.0,
) -> Observation:
    """What streamer `st` is told before round `r`: only values the arena computed, never another's settings.
    `demand` is the audience's topic demand (`Audience.demand`), `device_load` the cost model's estimate of
    the league's load on the shared device (`CostModel.load`)."""
    ranked = sorted(live, key=lambda x: (x.rank or 10**6, x.streamer_id))
    last = st.last
    c = config.relegation
    gap = line_gap(
        {x.streamer_id: x.ern_history for x in live},
        {x.streamer_id: x.rating.ordinal for x in live},
        st.streamer_id,
        played=r - 1,
        every=c.every,
        fraction=c.fraction,
        rounds_total=config.rounds,
    )
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
        perceived=dict(last.perceived),
        ern_terms=dict(last.ern_terms),
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
                topic=x.last.perceived_topic,
            )
            for i, x in enumerate(ranked)
        ],
        perceived_topic=last.perceived_topic,
        topic_demand=dict(demand or {}),
        line_gap=None if gap is None else round(gap, 1),
        device_load=round(float(device_load), 3),
        memory=list(st.memory),
        reflection=st.reflection,
    )


# ---- 4. watch -----------------------------------------------------------------------------------------------
def stall_per_tick(per_second: Sequence[float], tick_seconds: float, ticks: int) -> list[float]:
    """Re-bin the engine's per-second stall seconds into the audience's ticks (stall spread evenly within
    each second), so a tick of 2 s sees two seconds' stalls and a tick of 0.5 s half of one."""
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(per_second, dtype=np.float64))])
    edges = np.arange(ticks + 1) * tick_seconds
    at = np.interp(edges, np.arange(len(cum)), cum)  # beyond the last bin: no more stall
    return [float(x) for x in np.diff(at)]


def stream_views(
    slots: Sequence[str],
    reports: dict[str, StreamReport],
    eye: Eye,
    round_seconds: float,
    tick_seconds: float,
    ticks: int,
) -> list[StreamView]:
    """What the audience perceives of each stream this round, from its output frames only (never its prompt):
    the eye's embedding of a subsample of frames, detail and speckle at display size, smoothness from the
    output frame rate, motion and stability from the engine's frame metrics, visual novelty against rivals."""
    samples = [_frames_seen(reports[s]) for s in slots]
    embs = []
    for frames in samples:  # one call per stream: streams may differ in resolution (the eye resizes)
        v = eye.embed_frames(frames).mean(axis=0)
        embs.append(v / (np.linalg.norm(v) + 1e-9))
    emb = np.asarray(embs, dtype=np.float32).reshape(len(slots), -1)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -1.0)
    views = []
    for i, s in enumerate(slots):
        rep, frames = reports[s], samples[i]
        shown = rep.frames_output > 0
        mad = 255.0 * (1.0 - float(rep.metrics.get("flicker", 1.0)))
        views.append(
            StreamView(
                stream_id=s,
                content_embedding=emb[i],
                stall_seconds_per_tick=stall_per_tick(rep.stall_seconds_per_second, tick_seconds, ticks),
                startup_delay=rep.startup_delay,
                detail=perception.detail(frames) if shown else 0.0,
                speckle=perception.speckle(frames) if shown else 0.0,
                smoothness=perception.smoothness(rep.frames_output / round_seconds),
                stability=float(rep.metrics.get("stability", 0.5)),
                motion=perception.motion(mad) if shown else 0.0,
                novelty=float(np.clip(1.0 - sims[i].max(), 0.0, 1.0)) if len(slots) > 1 else 0.0,
            )
        )
    return views


def perceived_of(view: StreamView | None) -> dict[str, float]:
    """The view's perceptual measures, rounded for the log and the agent's observation."""
    if view is None:
        return {}
    keys = ("detail", "speckle", "smoothness", "motion", "stability", "novelty")
    return {k: round(float(getattr(view, k)), 4) for k in keys}


def _frames_seen(rep: StreamReport) -> np.ndarray:
    """The round's sampled output frames, or the thumbnail when none were sampled."""
    if len(rep.frame_sample):
        return rep.frame_sample
    return np.asarray(rep.thumbnail, dtype=np.uint8)[None]


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
    views: dict[str, StreamView] | None = None,
    distinct_real: int | None = None,
) -> ScoredRound:
    """ERN (simulated + real viewers, stored apart), ratings, standings, one stat row and event per stream.
    `thumbnail(slot, image)` saves a stream's thumbnail and returns its path relative to the run folder.
    `distinct_real`: distinct real viewers so far (the broadcast's count; None when nothing is broadcast)."""
    by_id = {st.streamer_id: st for st in live}
    real_by_id = {st.streamer_id: int(real.get(st.slot, 0)) for st in live}
    ern = {i: float(watched.ern[st.slot]["mean"]) + real_by_id[i] for i, st in by_id.items()}
    _, table = score_round({i: by_id[i].rating for i in ern}, ern)
    out = ScoredRound(r, table, {}, online=watched.online_mean)
    streams: dict[str, Any] = {}
    for stand in table:
        st = by_id[stand.streamer_id]
        rep = reports[st.slot]
        view = views.get(st.slot) if views else None
        summary = StreamSummary.from_report(
            rep, perceived_of(view), watched.terms.get(st.slot), view.topic if view is not None else ""
        )
        out.summaries[st.streamer_id] = summary
        peak = int(watched.ern[st.slot]["peak"]) + real_by_id[st.streamer_id]
        streams[str(st.streamer_id)] = {
            **summary.to_dict(),
            "ern_mean": stand.ern_mean,
            "ern_peak": peak,
            "slot": st.slot,
            "real_viewers": real_by_id[st.streamer_id],
            "settings": rep.settings,
            "ern_terms": summary.ern_terms,
            "perceived": summary.perceived,
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
    # device seconds the round's finetune steps took (every report carries the round's total): the report's
    # device share spent on finetuning
    finetune = max((rep.finetune_seconds for rep in reports.values()), default=0.0)
    out.events.append(
        (
            "round_scored",
            {
                "round": r,
                "sim_time": sim_time,
                "online": watched.online_mean,
                "finetune_seconds": round(float(finetune), 6),
                **({} if distinct_real is None else {"distinct_real_viewers": int(distinct_real)}),
                "streams": streams,
            },
        )
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
