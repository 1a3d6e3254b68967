"""Who earned the eyes and why: ERN per streamer, the stacked share, the per-term ERN attribution, and each
streamer's decisions marked on its ERN line.

Every term in the `round_scored` events' `ern_terms` is drawn, whatever its name (a term added to the
audience later appears here with no change); so is every tool a decision called.
"""

from __future__ import annotations

import math

import numpy as np

from arena.report.data import SeasonData
from arena.report.plots_common import Plot, colour, legend, new_figure, round_axis, to_png
from arena.report.summary import term_names

_MARKERS = "o^sDvP*Xh<>p"
#: Events about a streamer that the decisions plot does not tick: its birth, and what it already shows (stalls
#: are in the content section, finetunes started are lines).
_NOT_MARKED = {"streamer_spawned", "stall", "finetune_started", "relegated"}


def _colours(d: SeasonData) -> dict[int, tuple]:
    return {s.id: colour(i) for i, s in enumerate(d.streamers)}


def ern_over_time(d: SeasonData) -> Plot:
    fig = new_figure()
    ax = fig.add_subplot()
    cols = _colours(d)
    shown = d.scored_streamers()
    for s in shown:
        rs = d.rounds_of(s.id)
        ax.plot([x.round for x in rs], [x.ern_mean for x in rs], marker=".", color=cols[s.id], label=s.label)
    round_axis(ax)
    ax.set_ylabel("ERN (mean concurrent viewers)")
    legend(ax, len(shown))
    return Plot(
        "ern", "ERN per streamer", to_png(fig), "Mean concurrent viewers per round (simulated plus real viewers)."
    )


def share_stacked(d: SeasonData) -> Plot:
    fig = new_figure()
    ax = fig.add_subplot()
    rounds = d.scored_rounds
    shown = d.scored_streamers()
    cols = _colours(d)
    index = {r: k for k, r in enumerate(rounds)}
    layers = np.zeros((len(shown), len(rounds)))
    for j, s in enumerate(shown):
        for x in d.rounds_of(s.id):
            layers[j, index[x.round]] = x.share
    if shown:
        ax.stackplot(rounds, layers, labels=[s.label for s in shown], colors=[cols[s.id] for s in shown])
    round_axis(ax)
    ax.set_ylabel("share of ERN")
    ax.set_ylim(0, 1)
    legend(ax, len(shown))
    return Plot("share", "Share of the eyes (stacked)", to_png(fig), "Each stream's ERN / all streams' ERN, per round.")


def _grid(n: int, ncols: int = 3, row_height: float = 2.6, sharey: bool = True):
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    height = row_height * nrows + 0.9
    fig = new_figure(width=4.2 * ncols, height=height, constrained=False)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=sharey).ravel()
    fig.subplots_adjust(left=0.06, right=0.99, top=1 - 0.35 / height, bottom=0.8 / height, hspace=0.3, wspace=0.18)
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes


def term_attribution(d: SeasonData) -> Plot:
    """Per streamer, per round: each term's contribution as a bar (positive up, negative down), stacked, and
    the net utility as a line."""
    terms = term_names(d)
    shown = d.scored_streamers()
    fig, axes = _grid(len(shown))
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    tcol = {t: cmap(k % cmap.N) for k, t in enumerate(terms)}
    for ax, s in zip(axes, shown):
        rs = [x for x in d.rounds_of(s.id) if x.terms]
        xs = np.array([x.round for x in rs], dtype=float)
        pos = np.zeros(len(rs))
        neg = np.zeros(len(rs))
        for t in terms:
            v = np.array([x.terms.get(t, 0.0) for x in rs])
            up = np.where(v > 0, v, 0.0)
            down = np.where(v < 0, v, 0.0)
            # one stepped band per term and sign (as bars one round wide, but one artist for the whole season)
            ax.fill_between(xs, pos, pos + up, step="mid", color=tcol[t], lw=0, label=t if ax is axes[0] else None)
            ax.fill_between(xs, neg, neg + down, step="mid", color=tcol[t], lw=0)
            pos += up
            neg += down
        if rs:
            ax.plot(xs, [sum(x.terms.values()) for x in rs], color="black", marker=".", lw=1, label=None)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(s.label, fontsize=9)
        ax.tick_params(labelsize=7)
        round_axis(ax, label=False)
    if shown:
        axes[0].set_ylabel("utils per viewer")
        fig.legend(fontsize=7, loc="lower center", ncol=min(10, max(1, len(terms))), frameon=False)
    return Plot(
        "ern_terms",
        "Why: ERN attribution per term",
        to_png(fig),
        "Each utility term's mean contribution to a stream's utility per choosing viewer, per round (x: round; bands one "
        "round wide: positive terms stacked up, negative down; black line: the sum). Terms read from the round_scored events.",
    )


def decisions_on_ern(d: SeasonData) -> Plot:
    """Each streamer's ERN line with a marker per tool called in the round's decision (a failed call hollow),
    finetunes started as vertical lines and reflections as stars on the axis."""
    shown = d.scored_streamers()
    tools = sorted({a.tool for x in d.decisions for a in x.actions})
    mark = {t: _MARKERS[k % len(_MARKERS)] for k, t in enumerate(tools)}
    fig, axes = _grid(len(shown), sharey=False)
    cols = _colours(d)
    finetunes = [e for e in d.other_events if e.kind == "finetune_started"]
    # any other event about one streamer (spoken lines, chat, finetunes finished, kinds added later): a tick
    # on the round axis, one colour per kind
    about = [e for e in d.other_events if isinstance(e.payload.get("streamer_id"), int) and e.kind not in _NOT_MARKED]
    kinds = sorted({e.kind for e in about})
    kind_colour = {k: f"C{(n + 5) % 10}" for n, k in enumerate(kinds)}
    for ax, s in zip(axes, shown):
        rs = d.rounds_of(s.id)
        ern = {x.round: x.ern_mean for x in rs}
        ax.plot(list(ern), list(ern.values()), color=cols[s.id], lw=1.2)
        ax.set_ylim(bottom=0)  # ERN from zero: the event ticks sit on the axis
        top = max(ern.values(), default=1.0) or 1.0
        points: dict[tuple[str, bool], list[tuple[int, float]]] = {}
        for x in d.decisions:
            if x.streamer_id != s.id or x.round not in ern:
                continue
            for k, a in enumerate(x.actions):
                points.setdefault((a.tool, a.ok), []).append((x.round, ern[x.round] + top * 0.06 * (k + 1)))
        for (tool, ok), xy in points.items():  # one scatter per tool and outcome: few artists in long seasons
            rx, ry = zip(*xy)
            ax.scatter(rx, ry, marker=mark[tool], s=22, facecolors="C3" if ok else "none", edgecolors="C3", lw=0.8)
        for e in finetunes:
            if e.payload.get("streamer_id") == s.id:
                ax.axvline(e.round, color="C2", lw=0.8, ls="--")
        for kind in kinds:
            rx = [e.round for e in about if e.kind == kind and e.payload["streamer_id"] == s.id]
            if rx:
                ax.scatter(rx, [0] * len(rx), marker="|", s=120, color=kind_colour[kind], clip_on=False)
        for rf in d.reflections:
            if rf.streamer_id == s.id:
                ax.scatter([rf.round], [0], marker="*", s=40, color="C4", clip_on=False)
        ax.set_title(s.label, fontsize=9)
        ax.tick_params(labelsize=7)
        round_axis(ax, label=False)
    if shown:
        for t in tools:
            axes[0].scatter([], [], marker=mark[t], color="C3", label=t)
        axes[0].plot([], [], color="C2", ls="--", label="finetune started")
        axes[0].scatter([], [], marker="*", color="C4", label="reflection")
        for kind in kinds:
            axes[0].scatter([], [], marker="|", s=120, color=kind_colour[kind], label=f"{kind} event")
        fig.legend(fontsize=7, loc="lower center", ncol=min(10, len(tools) + len(kinds) + 2), frameon=False)
    return Plot(
        "decisions",
        "Decisions marked on ERN",
        to_png(fig),
        "Each streamer's ERN per round (x: round); above it one marker per tool call of that round's decision (hollow: the "
        "call failed), dashed lines where a finetune started, stars where the streamer wrote a reflection, and a tick on the "
        "axis for every other event about the streamer (spoken lines, chat, finished finetunes...), by kind.",
    )


def terms_compared(seasons: list[SeasonData]) -> Plot:
    """Each term's mean over every stream-round of each season, as grouped bars: why viewers came, season
    against season."""
    terms: dict[str, None] = {}
    for d in seasons:
        for t in term_names(d):
            terms.setdefault(t, None)
    names = list(terms)
    fig = new_figure(height=3.4)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(seasons))
    for k, d in enumerate(seasons):
        means = [np.mean([x.terms[t] for x in d.stream_rounds if t in x.terms] or [np.nan]) for t in names]
        ax.bar(np.arange(len(names)) + (k - (len(seasons) - 1) / 2) * width, means, width=width, label=d.name)
    ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("mean utils per viewer")
    legend(ax, len(seasons))
    return Plot(
        "terms_compared",
        "ERN terms, season against season",
        to_png(fig),
        "Each term's mean contribution over all stream-rounds of each season.",
    )
