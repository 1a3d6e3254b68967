"""Lineage: the tree of relegations, exploits and fresh spawns. Each streamer is a bar from the round it was
born to the round it was relegated (or the last round stored); an exploit child hangs from its parent by a
line at its birth, a fresh spawn starts a new root. What each spawn mutated is listed beside the plot
(`mutation_text`) from the `streamer_spawned` events."""

from __future__ import annotations

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from arena.report.data import SeasonData, StreamerInfo
from arena.report.plots_common import Plot, new_figure, to_png

ORIGIN_COLOUR = {"pool": "C0", "exploit": "C1", "fresh": "C2"}


def tree_order(streamers: list[StreamerInfo]) -> list[tuple[StreamerInfo, int]]:
    """Depth-first: each root (no parent in this season), then its children by birth; (streamer, depth)."""
    ids = {s.id for s in streamers}
    children: dict[int | None, list[StreamerInfo]] = {}
    for s in streamers:
        parent = s.parent_id if s.parent_id in ids else None
        children.setdefault(parent, []).append(s)
    out: list[tuple[StreamerInfo, int]] = []

    def visit(parent: int | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: (x.born_round, x.id)):
            out.append((s, depth))
            visit(s.id, depth + 1)

    visit(None, 0)
    return out


def mutation_text(s: StreamerInfo, limit: int = 6) -> str:
    """`field old->new` for each mutation (the copy itself as `copy of NAME`), at most `limit` shown."""
    parts = []
    for m in s.mutations:
        f = str(m.get("field", "?"))
        if f == "copy":
            parts.append(f"copy of {m.get('from_name', m.get('from', '?'))}")
        elif "old" in m or "new" in m:
            parts.append(f"{f} {_short(m.get('old'))}->{_short(m.get('new'))}")
        else:
            parts.append(f"{f} ({m.get('how', '')})")
    more = len(parts) - limit
    return ", ".join(parts[:limit]) + (f", +{more} more" if more > 0 else "")


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    text = str(v)
    return text if len(text) <= 18 else text[:17] + "…"


def lineage(d: SeasonData) -> Plot:
    order = tree_order(d.streamers)
    last = max([d.rounds_done, *d.scored_rounds, *(s.born_round for s in d.streamers)], default=0)
    fig = new_figure(width=9.0, height=max(2.2, 0.32 * len(order) + 1.0))
    ax = fig.add_subplot()
    row = {s.id: k for k, (s, _) in enumerate(order)}
    for s, _ in order:
        y = row[s.id]
        end = s.relegated_round if s.relegated_round is not None else last
        ax.barh(
            y, max(end - s.born_round, 0.15), left=s.born_round, height=0.6, color=ORIGIN_COLOUR.get(s.origin, "C7")
        )
        ax.text(s.born_round + 0.05, y, " " + s.label, va="center", fontsize=7)
        if s.relegated_round is not None:
            ax.plot([end], [y], marker="x", color="C3", ms=7)
        if s.parent_id in row:
            py = row[s.parent_id]
            ax.plot([s.born_round, s.born_round], [py, y], color="grey", lw=0.8)
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlabel("round (a streamer born at round r plays from round r + 1)")
    ax.set_xlim(0, last + 0.5 if last else 1)
    handles = [Patch(color=c, label=origin) for origin, c in ORIGIN_COLOUR.items()]
    handles.append(Line2D([], [], marker="x", color="C3", ls="none", label="relegated"))
    ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=False)
    return Plot(
        "lineage",
        "Lineage",
        to_png(fig),
        "Each streamer from birth to relegation (x) or the last round; grey lines join an exploit child to its "
        "parent. Colour: pool (initial), exploit (copy of a top streamer, mutated), fresh (new persona).",
    )
