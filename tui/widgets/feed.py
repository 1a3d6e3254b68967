"""The event feed: decisions and their tool calls, stalls, finetunes, relegations, spawns, rounds, anything else
(unknown kinds are shown generically), with category and text filters. New items are appended; the table
follows the newest item while the cursor is on the last row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.model import CATEGORIES, FeedItem

CATEGORY_STYLE = {
    "decision": "cyan",
    "stall": "yellow",
    "finetune": "magenta",
    "relegated": "bold red",
    "spawn": "green",
    "round": "blue",
    "season": "bold",
    "other": "dim",
}
KIND_LABEL = {"streamer_spawned": "spawned", "round_scored": "round", "season_created": "created"}

# filter key per category (shown in the filter bar and bound on the feed screen)
CATEGORY_KEYS = {
    "decision": "d",
    "stall": "l",
    "finetune": "f",
    "relegated": "x",
    "spawn": "n",
    "round": "r",
    "season": "g",
    "other": "o",
}


class FeedFilter:
    """Which items the feed shows."""

    def __init__(self, categories: Iterable[str] | None = None, text: str = "", errors_only: bool = False):
        self.categories = set(CATEGORIES if categories is None else categories)
        self.text = text
        self.errors_only = errors_only

    def matches(self, item: FeedItem) -> bool:
        if item.category not in self.categories:
            return False
        if self.errors_only and item.ok:
            return False
        if self.text:
            needle = self.text.lower()
            hay = f"{item.slot} {item.name} {item.kind} {item.summary}".lower()
            if needle not in hay:
                return False
        return True


class FilterBar(Static):
    """One or two lines of clickable category toggles."""

    def show(self, flt: FeedFilter, shown: int, total: int) -> None:
        t = Text()
        for cat, label in CATEGORIES.items():
            on = cat in flt.categories
            key = CATEGORY_KEYS[cat]
            t.append(f"{key}", style="bold reverse" if on else "dim")
            t.append(f" {label}", style=(CATEGORY_STYLE[cat] if on else "dim strike"))
            t.append("  ")
        t.append("e", style="bold reverse" if flt.errors_only else "dim")
        t.append(" errors only", style="bold red" if flt.errors_only else "dim")
        t.append(f"   {shown}/{total}", style="dim")
        self.update(t)


class FeedTable(DataTable):
    """Feed items as rows (keyed by event id)."""

    MAX_ROWS = 1000

    class ItemSelected(Message):
        def __init__(self, item: FeedItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, show_round: bool = True, compact: bool = False, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.show_round = show_round
        self.compact = compact  # no Kind column: the kind prefixes the text (for narrow side panels)
        self.filter = FeedFilter()
        self._items: dict[str, FeedItem] = {}
        self._fixed = 0

    def on_mount(self) -> None:
        if self.show_round:
            self.add_column("Rnd", key="round", width=3)
        if not self.compact:
            self.add_column("Kind", key="kind", width=9)
        self.add_column("Streamer", key="who", width=self._who_width)
        self.add_column("What", key="what", width=self._what_width())

    @property
    def _who_width(self) -> int:
        return 10 if self.compact else 14

    def _what_width(self) -> int:
        fixed = (3 + 2 if self.show_round else 0) + (0 if self.compact else 9 + 2) + self._who_width + 2 + 2 + 1
        return max(20, self.size.width - fixed) if self.size.width else 60

    def on_resize(self) -> None:
        col = self.columns.get("what")  # type: ignore[call-overload]
        if col is not None:
            width = self._what_width()
            if col.width != width:
                col.width = width
                self._require_update_dimensions = True
                self._update_count += 1
                self.refresh()

    # ---- rows ----------------------------------------------------------------------------------------------------
    def _cells(self, item: FeedItem) -> list[Text]:
        style = CATEGORY_STYLE.get(item.category, "")
        kind = KIND_LABEL.get(item.kind, item.kind)
        who = f"{item.slot} {item.name}".strip() if item.name else item.slot
        what = Text(no_wrap=True, overflow="ellipsis")
        if self.compact:
            what.append(f"{kind}: ", style=style)
        what.append(item.summary, style="" if item.ok else "red")
        cells = [Text(who, no_wrap=True, overflow="ellipsis"), what]
        if not self.compact:
            cells.insert(0, Text(kind, style=style, no_wrap=True, overflow="ellipsis"))
        if self.show_round:
            cells.insert(0, Text(str(item.round), justify="right", style="dim"))
        return cells

    @property
    def items(self) -> list[FeedItem]:
        """The items shown, in display order."""
        return [self._items[r.key.value] for r in self.ordered_rows if r.key.value in self._items]

    def _at_end(self) -> bool:
        return self.row_count == 0 or self.cursor_row >= self.row_count - 1

    def append(self, items: Sequence[FeedItem]) -> int:
        """Add the items that pass the filter; returns how many were added."""
        follow = self._at_end()
        added = 0
        for item in items:
            key = str(item.id)
            if key in self._items or not self.filter.matches(item):
                continue
            self.add_row(*self._cells(item), key=key)
            self._items[key] = item
            added += 1
        if self.row_count > 2 * self.MAX_ROWS:
            keep = self.items[-self.MAX_ROWS :]
            self.replace(keep)
            return added
        if added and follow:
            self.move_cursor(row=self.row_count - 1, animate=False)
        return added

    def replace(self, items: Sequence[FeedItem]) -> None:
        """Show exactly these items (those passing the filter, the newest MAX_ROWS)."""
        self.clear()
        self._items.clear()
        shown = [i for i in items if self.filter.matches(i)][-self.MAX_ROWS :]
        for item in shown:
            key = str(item.id)
            self.add_row(*self._cells(item), key=key)
            self._items[key] = item
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        item = self._items.get(event.row_key.value) if event.row_key.value else None
        if item is not None:
            self.post_message(self.ItemSelected(item))
