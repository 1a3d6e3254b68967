"""The event feed with filters."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from tui.fold import SeasonModel
from tui.messages import ShowStreamer
from tui.model import CATEGORIES
from tui.screens.base import ArenaScreen
from tui.widgets.feed import CATEGORY_KEYS, FeedTable, FilterBar


class FeedScreen(ArenaScreen):
    TAB = "feed"
    BINDINGS = [
        *[Binding(key, f"toggle('{cat}')", CATEGORIES[cat], show=False) for cat, key in CATEGORY_KEYS.items()],
        Binding("e", "errors", "Errors only", show=False),
        Binding("a", "all", "All"),
        Binding("slash", "search", "Search"),
        Binding("escape", "clear_search", "Clear", show=False),
        Binding("end", "follow", "Newest", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield FilterBar(id="feed-filters")
        yield Input(placeholder="/ filter by streamer or text", id="feed-search", compact=True)
        yield FeedTable(id="feed")

    def on_mount(self) -> None:
        self._seen = 0
        super().on_mount()
        self.query_one(FeedTable).focus()

    @property
    def table(self) -> FeedTable:
        return self.query_one(FeedTable)

    def reset(self) -> None:
        self._seen = 0
        self.table.replace([])
        self._show_filters()

    def _show_filters(self) -> None:
        model = self._model
        self.query_one(FilterBar).show(self.table.filter, self.table.row_count, model.feed_len() if model else 0)

    def update_view(self, model: SeasonModel) -> None:
        items = model.feed(self._seen)
        self._seen += len(items)
        self.table.append(items)
        self._show_filters()

    def refilter(self) -> None:
        model = self._model
        self.table.replace(model.feed() if model else [])
        self._seen = model.feed_len() if model else 0
        self._show_filters()

    # ---- actions -------------------------------------------------------------------------------------------------
    def action_toggle(self, category: str) -> None:
        cats = self.table.filter.categories
        cats.symmetric_difference_update({category})
        self.refilter()

    def action_all(self) -> None:
        flt = self.table.filter
        flt.categories = set(CATEGORIES)
        flt.errors_only = False
        flt.text = ""
        self.query_one("#feed-search", Input).value = ""
        self.refilter()

    def action_errors(self) -> None:
        self.table.filter.errors_only = not self.table.filter.errors_only
        self.refilter()

    def action_search(self) -> None:
        self.query_one("#feed-search", Input).focus()

    def action_clear_search(self) -> None:
        box = self.query_one("#feed-search", Input)
        if box.value:
            box.value = ""
        self.table.focus()

    def action_follow(self) -> None:
        if self.table.row_count:
            self.table.move_cursor(row=self.table.row_count - 1)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "feed-search" and event.value != self.table.filter.text:
            self.table.filter.text = event.value
            self.refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_feed_table_item_selected(self, event: FeedTable.ItemSelected) -> None:
        if event.item.streamer_id is not None:
            self.post_message(ShowStreamer(event.item.streamer_id))
