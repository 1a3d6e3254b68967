"""What every plot family shares: a figure drawn off-screen (matplotlib's Agg canvas, no pyplot, no display,
no global backend state, so reports can be built from any thread), its PNG bytes, and one colour per
streamer that stays the same across every plot of a report."""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Labels are streamer names and LLM-written text: a `$` in one must print as a dollar, not start math markup
# (an unbalanced one would fail the whole plot).
matplotlib.rcParams["text.parse_math"] = False

#: Dots per inch of every PNG: readable in a browser at 100 % and small enough to embed many.
DPI = 96
_PALETTE = "tab20"


@dataclass(frozen=True)
class Plot:
    """A drawn plot: `name` is its file name stem (plots/<name>.png), `caption` says what it shows."""

    name: str
    title: str
    png: bytes
    caption: str = ""


def new_figure(width: float = 9.0, height: float = 3.6, *, constrained: bool = True) -> Figure:
    """A figure on its own Agg canvas. `constrained=False` for grids of many axes, which place their margins
    by hand: constrained layout measures every tick label of every axes and was half a grid's drawing time."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def colour(index: int) -> tuple[float, float, float, float]:
    """The colour of the index-th streamer (by id order) in every plot."""
    from matplotlib import colormaps

    cmap = colormaps[_PALETTE]
    return cmap(index % cmap.N)


def legend(ax, n: int) -> None:
    """A legend outside the axes when there are many lines, inside when few."""
    if n == 0:
        return
    if n > 6:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, ncol=1 + n // 18)
    else:
        ax.legend(fontsize=8, frameon=False)


def round_axis(ax, label: bool = True) -> None:
    """Rounds are whole numbers: integer ticks only, labelled `round` (not in small multiples: the caption says
    it once)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if label:
        ax.set_xlabel("round")
