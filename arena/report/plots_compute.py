"""What the generator reached on the compute it ran on: keyframes per second against resolution and steps,
the season's throughput per wall-clock second, and the temporal metrics (flicker, SSIM, drift) against the
img2img strength each stream ran at.

Rates are keyframes (`frames_generated`) over the round's `round_seconds` of stream time: with
`engine.timing: model` that time line is the cost model's, with `live` it is the wall clock. The throughput
panel divides all streams' keyframes by the round's measured wall seconds (decisions and scoring included).
"""

from __future__ import annotations

import numpy as np

from arena.report.data import SeasonData
from arena.report.plots_common import Plot, new_figure, round_axis, to_png

TEMPORAL = ("flicker", "ssim", "drift")


def round_seconds(d: SeasonData) -> float | None:
    v = d.config.get("round_seconds")
    return float(v) if isinstance(v, int | float) and v > 0 else None


def frontier(d: SeasonData) -> Plot:
    fig = new_figure(height=3.4)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    secs = round_seconds(d)
    pts = [x for x in d.stream_rounds if "resolution" in x.settings and "steps" in x.settings]
    steps = sorted({int(x.settings["steps"]) for x in pts})
    resolutions = sorted({int(x.settings["resolution"]) for x in pts})
    for k, st in enumerate(steps):
        mine = [x for x in pts if int(x.settings["steps"]) == st]
        if secs:
            offset = (k - (len(steps) - 1) / 2) * 0.6 / max(1, len(steps))
            left.scatter(
                [resolutions.index(int(x.settings["resolution"])) + offset for x in mine],
                [x.frames_generated / secs for x in mine],
                s=14,
                alpha=0.7,
                label=f"{st} step{'s' if st != 1 else ''}",
            )
            stalled = [x for x in mine if x.stall_count > 0]
            left.scatter(
                [resolutions.index(int(x.settings["resolution"])) + offset for x in stalled],
                [x.frames_generated / secs for x in stalled],
                s=40,
                marker="x",
                color="black",
                lw=0.8,
                label="stalled (compute-bound)" if k == 0 else None,
            )
    left.set_xticks(range(len(resolutions)), [str(r) for r in resolutions])
    left.set_xlim(-0.5, len(resolutions) - 0.5)
    left.set_xlabel("resolution (px)")
    left.set_ylabel("keyframes / s of stream time")
    if steps:
        left.legend(fontsize=8, frameon=False)
    rounds = {r.number: r for r in d.rounds}
    xs, ys = [], []
    for r in d.scored_rounds:
        if r in rounds and rounds[r].wall_seconds > 0:
            xs.append(r)
            ys.append(sum(x.frames_generated for x in d.in_round(r)) / rounds[r].wall_seconds)
    right.plot(xs, ys, marker=".", color="C1")
    round_axis(right)
    right.set_ylabel("keyframes / wall s (all streams)")
    return Plot(
        "frontier",
        "Compute frontier",
        to_png(fig),
        "Left: each stream-round's keyframes per second of stream time at the resolution and steps it streamed "
        "with (side by side by steps). A stream generates what its fps and buffer ask for, so a point is what it "
        "produced; a stream-round that stalled (x) could not keep up: those points trace the compute ceiling. Right: all streams' keyframes per wall-clock second of each round.",
    )


def temporal_vs_strength(d: SeasonData) -> Plot:
    fig = new_figure(height=3.0)
    axes = fig.subplots(1, len(TEMPORAL))
    pts = [x for x in d.stream_rounds if "strength" in x.settings]
    for ax, m in zip(axes, TEMPORAL):
        mine = [x for x in pts if m in x.metrics]
        ax.scatter([float(x.settings["strength"]) for x in mine], [x.metrics[m] for x in mine], s=12, alpha=0.7)
        if len(mine) >= 2 and np.ptp([float(x.settings["strength"]) for x in mine]) > 0:
            a, b = np.polyfit([float(x.settings["strength"]) for x in mine], [x.metrics[m] for x in mine], 1)
            xs = np.linspace(0, 1, 11)
            ax.plot(xs, a * xs + b, color="grey", lw=0.8)
        ax.set_xlabel("img2img strength")
        ax.set_title(m, fontsize=9)
        ax.set_xlim(0, 1)
    return Plot(
        "temporal",
        "Temporal metrics vs img2img strength",
        to_png(fig),
        "Per stream-round: flicker (VBench score, 1 = static), SSIM between consecutive output frames, and drift "
        "(feature distance of the latest frames from the stream's first ones), against the img2img strength it "
        "streamed with (grey: least-squares line).",
    )


def finetune_share(d: SeasonData) -> Plot:
    """Per round, the device seconds finetune steps took over the round's seconds of stream time."""
    fig = new_figure(width=6.0, height=2.8)
    ax = fig.add_subplot()
    secs = round_seconds(d) or 1.0
    rounds = sorted(d.finetune_seconds)
    ax.bar(rounds, [d.finetune_seconds[r] / secs for r in rounds], color="C2")
    ax.set_ylabel("device share on finetuning")
    round_axis(ax)
    return Plot(
        "finetune_share",
        "Device share spent on finetuning",
        to_png(fig),
        "Device seconds the round's finetune steps took, over the round's seconds of stream time "
        f"(configured share while jobs wait: engine.finetune_share = {(d.config.get('engine') or {}).get('finetune_share', '?')}).",
    )
