"""One streamer in detail: persona, lineage, settings over time, every decision with its tool calls and results,
and its events."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane, Tree

from tui.fold import SeasonModel
from tui.format import format_args, sparkline
from tui.messages import ShowStreamer
from tui.model import DecisionRecord, StreamerInfo
from tui.screens.base import ArenaScreen
from tui.widgets.feed import FeedTable
from tui.widgets.leaderboard import STATUS
from tui.widgets.thumbnail import Thumbnail

SETTING_ORDER = ("prompt", "steps", "strength", "resolution", "fps", "interpolation", "seed", "transition_seconds")


def _bar(value: float, width: int = 10) -> str:
    n = max(0, min(width, round(value * width)))
    return "█" * n + "░" * (width - n)


def persona_view(st: StreamerInfo) -> Group:
    p = st.persona or {}
    t = Table.grid(padding=(0, 1), expand=True)
    t.add_column(style="bold", no_wrap=True, width=14)
    t.add_column(ratio=1)
    for key, label in (
        ("name", "Name"),
        ("seed", "Seed"),
        ("character", "Character"),
        ("backstory", "Backstory"),
        ("visual_style", "Visual style"),
        ("voice", "Voice"),
        ("survival_motive", "Survival"),
    ):
        if p.get(key):
            t.add_row(label, str(p[key]))
    goals = p.get("goals") or []
    if goals:
        t.add_row("Goals", "\n".join(f"• {g}" for g in goals))
    traits = p.get("traits") or {}
    if traits:
        tt = Text()
        for k, v in traits.items():
            try:
                val = float(v)
            except (TypeError, ValueError):
                continue
            tt.append(f"{k:<16}", style="dim")
            tt.append(_bar(val), style="cyan")
            tt.append(f" {val:.2f}\n")
        t.add_row("Traits", tt)
    if st.reflection:
        t.add_row("Reflection", st.reflection)
    if not p:
        t.add_row("", Text("no persona recorded", style="dim"))
    return Group(t)


def lineage_label(st: StreamerInfo, current: int) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    style = "bold reverse" if st.id == current else ("dim" if st.status == "relegated" else "")
    t.append(f"{st.slot} {st.name}", style=style)
    span = f"r{st.born_round}–r{st.relegated_round}" if st.relegated_round is not None else f"since r{st.born_round}"
    t.append(f"  {st.origin} · {span}", style="dim")
    if st.status == "relegated":
        t.append(" · relegated", style="red")
    return t


def decision_label(d: DecisionRecord) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"r{d.round:<3} ", style="bold")
    if d.ok:
        t.append("✓ ", style="green")
    else:
        t.append("✗ ", style="bold red")
    t.append(f"{d.policy} {d.seconds:.2f}s", style="dim")
    if not d.ok:
        t.append(f"  {d.error or 'failed'}", style="red")
    elif d.actions:
        t.append(f"  {len(d.actions)} tool call{'s' if len(d.actions) != 1 else ''}: ")
        t.append(", ".join(a.tool for a in d.actions), style="cyan")
    else:
        t.append("  no change", style="dim")
    return t


class StreamerScreen(ArenaScreen):
    TAB = ""
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("p", "tab('persona')", "Persona", show=False),
        Binding("l", "tab('lineage')", "Lineage", show=False),
        Binding("t", "tab('settings')", "Settings", show=False),
        Binding("d", "tab('decisions')", "Decisions", show=False),
        Binding("v", "tab('events')", "Events", show=False),
        Binding("bracketleft", "sibling(-1)", "Prev", show=False),
        Binding("bracketright", "sibling(1)", "Next", show=False),
    ]

    def __init__(self, streamer_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streamer_id = streamer_id
        self._decisions_shown = 0
        self._settings_shown = 0
        self._lineage_sig: Any = None
        self._events_seen = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="detail-top"):
            yield Thumbnail(id="detail-thumb")
            yield Static("", id="detail-summary")
        with TabbedContent(id="detail-tabs", initial="persona"):
            with TabPane("Persona", id="persona"), VerticalScroll():
                yield Static("", id="persona-view")
            with TabPane("Lineage", id="lineage"):
                yield Tree("lineage", id="lineage-tree")
                yield Static("", id="mutations")
            with TabPane("Settings", id="settings"):
                yield DataTable(id="settings-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Decisions", id="decisions"):
                yield Tree("decisions", id="decision-tree")
            with TabPane("Events", id="events"):
                yield FeedTable(id="detail-feed")

    def on_mount(self) -> None:
        self.query_one("#lineage-tree", Tree).show_root = False
        self.query_one("#decision-tree", Tree).show_root = False
        super().on_mount()

    def reset(self) -> None:
        self._decisions_shown = 0
        self._settings_shown = 0
        self._lineage_sig = None
        self._events_seen = 0
        self.query_one("#decision-tree", Tree).clear()
        self.query_one("#settings-table", DataTable).clear(columns=True)
        self.query_one("#detail-feed", FeedTable).replace([])

    def show_empty(self, problem: str | None) -> None:
        self.query_one("#detail-summary", Static).update(problem or "no season")

    # ---- drawing -----------------------------------------------------------------------------------------------
    def update_view(self, model: SeasonModel) -> None:
        st = model.streamer(self.streamer_id)
        if st is None:
            self.query_one("#detail-summary", Static).update(f"streamer #{self.streamer_id} is not in this season")
            return
        self.sub_title = f"{st.slot} {st.name}"
        self._summary(model, st)
        self.query_one("#persona-view", Static).update(persona_view(st))
        self._lineage(model, st)
        self._settings(model)
        self._decisions(model)
        items = [i for i in model.feed(self._events_seen) if i.streamer_id == self.streamer_id]
        self._events_seen = model.feed_len()
        self.query_one("#detail-feed", FeedTable).append(items)

    def _summary(self, model: SeasonModel, st: StreamerInfo) -> None:
        row = model.live_table().row(st.id) or model.last_row(st.id)
        t = Text()
        t.append(f"{st.slot} ", style="bold")
        t.append(st.name, style="bold underline")
        status = row.status if row is not None and st.status != "relegated" else st.status
        word, style = STATUS.get(status, (status, ""))
        t.append(f"  {word}", style=style)
        t.append(f"\n{st.origin}", style="dim")
        if st.parent_id is not None:
            parent = model.streamer(st.parent_id)
            t.append(f" of {parent.name if parent else '#' + str(st.parent_id)}", style="dim")
        t.append(f" · born r{st.born_round}", style="dim")
        if st.relegated_round is not None:
            t.append(f" · relegated r{st.relegated_round}", style="red")
            if st.window_ern is not None:
                t.append(f" (window ERN {st.window_ern:.1f})", style="red")
        if row is not None and row.rank is not None:
            t.append(f"\nrank {row.rank}", style="bold")
            t.append(f" · ERN {row.ern:.1f} (peak {row.ern_peak}) · share {row.share:.1%} · rating {row.rating:.2f}")
            fill = row.buffer_fill
            t.append(
                f"\nbuffer {'—' if fill is None else f'{fill:.0%}'} · stalls {row.stall_count} "
                f"({row.stall_seconds:.1f} s) this round"
            )
            series = [e for _, e in model.ern_series().get(st.id, [])]
            total_stalls = sum(1 for f in model.streamer_feed(st.id) if f.kind == "stall")
            t.append(f" · {total_stalls} stalled rounds")
            t.append("\nERN ")
            t.append(sparkline(series, 32), style="cyan")
        else:
            t.append("\nno round played yet", style="dim")
        self.query_one("#detail-summary", Static).update(t)
        self.query_one("#detail-thumb", Thumbnail).path = row.thumbnail if row is not None else None

    def _lineage(self, model: SeasonModel, st: StreamerInfo) -> None:
        everyone = {s.id: s for s in model.streamers()}
        sig = tuple((s.id, s.status, s.children) for s in everyone.values())
        if sig == self._lineage_sig:
            return
        self._lineage_sig = sig
        tree = self.query_one("#lineage-tree", Tree)
        tree.clear()
        root = st
        seen = {root.id}
        while root.parent_id is not None and root.parent_id in everyone and root.parent_id not in seen:
            root = everyone[root.parent_id]
            seen.add(root.id)

        def add(node: Any, s: StreamerInfo, depth: int) -> None:
            child = node.add(lineage_label(s, st.id), data=s.id, expand=True, allow_expand=bool(s.children))
            if depth < 12:
                for cid in s.children:
                    if cid in everyone:
                        add(child, everyone[cid], depth + 1)

        add(tree.root, root, 0)
        tree.root.expand_all()
        muts = Text()
        if st.mutations:
            muts.append("Mutations at birth\n", style="bold")
            for m in st.mutations:
                muts.append(f"  {m.field}: ", style="bold")
                muts.append(f"{format_args({'old': m.old}, 30)} → {format_args({'new': m.new}, 30)}")
                muts.append(f"  ({m.how})\n", style="dim")
        elif st.parent_id is None:
            muts.append(f"{st.origin}: no parent", style="dim")
        self.query_one("#mutations", Static).update(muts)

    def _settings(self, model: SeasonModel) -> None:
        hist = model.settings_history(self.streamer_id)
        table = self.query_one("#settings-table", DataTable)
        if not table.columns:
            keys = list(SETTING_ORDER)
            for h in hist:
                keys += [k for k in h.settings if k not in keys]
            table.add_column("Round", key="round")
            for k in keys:
                table.add_column(k, key=k)
        cols = [str(c.value) for c in table.columns if c.value != "round"]
        for h in hist[self._settings_shown :]:
            cells: list[Any] = [Text(f"r{h.round}", style="bold")]
            for k in cols:
                v = h.settings.get(k, "")
                text = v if isinstance(v, str) else (f"{v:g}" if isinstance(v, float) else str(v))
                if k == "prompt" and len(text) > 48:
                    text = text[:47] + "…"
                cells.append(Text(text, style="bold yellow" if k in h.changed and self._settings_shown else ""))
            table.add_row(*cells)
            self._settings_shown += 1

    def _decisions(self, model: SeasonModel) -> None:
        decisions = model.decisions(self.streamer_id)
        tree = self.query_one("#decision-tree", Tree)
        for d in decisions[self._decisions_shown :]:
            node = tree.root.add(
                decision_label(d), data=d.event_id, before=0 if tree.root.children else None, expand=False
            )
            if not d.ok:
                node.add_leaf(Text(f"✗ {d.error or 'the decision failed'}: settings left as they were", style="red"))
            elif not d.actions:
                node.add_leaf(Text("no tool calls: settings left as they were", style="dim"))
            for a in d.actions:
                t = Text(no_wrap=True, overflow="ellipsis")
                t.append("✓ " if a.ok else "✗ ", style="green" if a.ok else "bold red")
                t.append(a.tool, style="cyan")
                t.append(f"({format_args(a.args, 60)})")
                t.append(" → ", style="dim")
                t.append(a.result, style="" if a.ok else "red")
                node.add_leaf(t)
        if decisions and not self._decisions_shown and tree.root.children:
            tree.root.children[0].expand()  # the latest decision, open
        self._decisions_shown = len(decisions)

    # ---- actions -------------------------------------------------------------------------------------------------
    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_sibling(self, step: int) -> None:
        """Previous / next streamer in the current table."""
        model = self._model
        if model is None:
            return
        ids = [r.streamer_id for r in model.live_table().rows]
        if self.streamer_id not in ids or not ids:
            return
        i = (ids.index(self.streamer_id) + step) % len(ids)
        self.post_message(ShowStreamer(ids[i]))

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if (
            event.control.id == "lineage-tree"
            and isinstance(event.node.data, int)
            and event.node.data != self.streamer_id
        ):
            self.post_message(ShowStreamer(event.node.data))

    def on_feed_table_item_selected(self, event: FeedTable.ItemSelected) -> None:
        event.stop()
