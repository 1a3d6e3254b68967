"""The latest thumbnail of every live stream."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Static

from tui.fold import SeasonModel
from tui.messages import ShowStreamer
from tui.screens.base import ArenaScreen
from tui.widgets.thumbnail import PreviewCard


class PreviewsScreen(ArenaScreen):
    TAB = "previews"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="previews-scroll"):
            yield Grid(id="previews")
        yield Static("", id="previews-empty", classes="empty")

    def reset(self) -> None:
        self._shown: list[int] = []
        self.query_one("#previews", Grid).remove_children()

    def show_empty(self, problem: str | None) -> None:
        empty = self.query_one("#previews-empty", Static)
        empty.update(problem or "no season")
        empty.display = True

    def update_view(self, model: SeasonModel) -> None:
        rows = [r for r in model.live_table().rows if r.status != "relegated"]
        empty = self.query_one("#previews-empty", Static)
        empty.display = not rows
        empty.update("no streams yet")
        self.sync_streamer_widgets(self.query_one("#previews", Grid), [r.streamer_id for r in rows], PreviewCard, model)

    def fill_streamer_widgets(self, model: SeasonModel) -> None:
        table = model.live_table()
        for card in self.query_one("#previews", Grid).query(PreviewCard):
            row = table.row(card.streamer_id)
            if row is None:
                continue
            title = Text(no_wrap=True, overflow="ellipsis")
            title.append(f"#{row.rank} " if row.rank else "new ", style="bold")
            title.append(f"{row.slot} {row.name}", style="bold red" if row.status == "zone" else "bold")
            if row.ern is not None:
                title.append(f"  {row.ern:.0f}", style="cyan")
            card.update(title, row.thumbnail, row.status)

    def on_preview_card_selected(self, event: PreviewCard.Selected) -> None:
        self.post_message(ShowStreamer(event.streamer_id))
