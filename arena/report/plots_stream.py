"""Content-positivity: how long a stream takes to become content-positive (TTCP), its buffer level and its
stalls, per stream and round, from the `StreamStat` rows (buffer capacity and content-positivity from the
`round_scored` events)."""

from __future__ import annotations

import numpy as np

from arena.report.data import SeasonData
from arena.report.plots_common import Plot, colour, legend, new_figure, round_axis, to_png


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
    """Two panels sharing the round axis: each stream's buffer level at the round's end (as a fraction of its
    capacity where the capacity is known) and its stall seconds in the round."""
    fig = new_figure(height=5.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    shown = d.scored_streamers()
    for i, s in enumerate(d.streamers):
        if s not in shown:
            continue
        rs = d.rounds_of(s.id)
        xs = [x.round for x in rs]
        level = [x.buffer_level / x.buffer_capacity if x.buffer_capacity else np.nan for x in rs]
        top.plot(xs, level, marker=".", color=colour(i), label=s.label)
        bottom.bar(
            np.array(xs) + (shown.index(s) - len(shown) / 2) * 0.8 / max(1, len(shown)),
            [x.stall_seconds for x in rs],
            width=0.8 / max(1, len(shown)),
            color=colour(i),
        )
    top.set_ylabel("buffer / capacity")
    top.set_ylim(-0.05, 1.05)
    bottom.set_ylabel("stall seconds")
    round_axis(bottom)
    legend(top, len(shown))
    return Plot(
        "buffer_stalls",
        "Buffer level and stalls",
        to_png(fig),
        "Top: buffer level at each round's end over its capacity. Bottom: seconds each stream stalled (its "
        "buffer empty at an output tick) in the round.",
    )
