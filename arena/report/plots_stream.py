"""Content-positivity: how long a stream takes to become content-positive (TTCP), its buffer level and its
stalls, per stream and round, from the `StreamStat` rows (buffer capacity and content-positivity from the
`round_scored` events)."""

from __future__ import annotations

import numpy as np

from arena.report.data import SeasonData
from arena.report.plots_common import Plot, new_figure, round_axis, to_png


def ttcp_distribution(d: SeasonData) -> Plot:
    """The TTCP each stream last reported (seconds of stream time from its start), as a histogram; streams
    that never stayed content-positive are counted apart in the caption."""
    fig = new_figure(width=6.0, height=3.2)
    ax = fig.add_subplot()
    last = [d.rounds_of(s.id)[-1].ttcp for s in d.scored_streamers()]
    values = [v for v in last if v is not None]
    never = len(last) - len(values)
    if values:
        ax.hist(values, bins=min(20, max(3, len(values))), color="C0")
    ax.set_xlabel("time to content-positive (s of stream time)")
    ax.set_ylabel("streams")
    return Plot(
        "ttcp",
        "Time to content-positive",
        to_png(fig),
        f"TTCP of {len(values)} streams; {never} never became content-positive to stay.",
    )


def buffer_and_stalls(d: SeasonData) -> Plot:
    """Two heat maps, one row per stream and one column per round: its buffer level at the round's end over
    its capacity, and the seconds it stalled in the round (blank where the stream was not live). Rows read
    at any season length, where one line per stream would not."""
    shown = d.scored_streamers()
    rounds = d.scored_rounds
    col = {r: k for k, r in enumerate(rounds)}
    level = np.full((len(shown), len(rounds)), np.nan)
    stalls = np.full((len(shown), len(rounds)), np.nan)
    for j, s in enumerate(shown):
        for x in d.rounds_of(s.id):
            if x.buffer_capacity:
                level[j, col[x.round]] = x.buffer_level / x.buffer_capacity
            stalls[j, col[x.round]] = x.stall_seconds
    height = 1.2 + 2 * max(1.0, 0.22 * len(shown))
    fig = new_figure(height=height)
    top, bottom = fig.subplots(2, 1, sharex=True)
    extent = (rounds[0] - 0.5, rounds[-1] + 0.5, len(shown) - 0.5, -0.5) if rounds else None
    a = top.imshow(level, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1, interpolation="nearest", extent=extent)
    finite = stalls[np.isfinite(stalls)]
    top_stall = max(1.0, float(finite.max())) if finite.size else 1.0  # a scale of at least 1 s: no stall is white
    b = bottom.imshow(
        stalls, aspect="auto", cmap="Reds", vmin=0, vmax=top_stall, interpolation="nearest", extent=extent
    )
    fig.colorbar(a, ax=top, label="buffer / capacity")
    fig.colorbar(b, ax=bottom, label="stall seconds")
    labels = [s.label for s in shown]
    for ax in (top, bottom):
        ax.set_yticks(range(len(shown)), labels, fontsize=7 if len(shown) <= 30 else 5)
    round_axis(bottom)
    return Plot(
        "buffer_stalls",
        "Buffer level and stalls",
        to_png(fig),
        "One row per stream, one column per round. Top: buffer level at the round's end over its capacity "
        "(red: empty). Bottom: seconds the stream stalled (its buffer empty at an output tick) in the round. "
        "Blank: not live.",
    )
