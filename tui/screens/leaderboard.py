"""The live leaderboard (the default screen)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from arena.rules import is_window_round, rounds_to_window
from tui.fold import SeasonModel
from tui.messages import ShowStreamer
from tui.model import RoundTable, SeasonInfo
from tui.screens.base import ArenaScreen
from tui.widgets.feed import FeedFilter, FeedTable
from tui.widgets.leaderboard import LeaderboardTable
from tui.widgets.thumbnail import Thumbnail


def round_caption(info: SeasonInfo, table: RoundTable, n_live: int) -> Text:
    """`Round r of N · online · relegation after rK`; the next window by the league's rules (`arena.rules`), so
    the caption never announces a relegation the season will not hold (none after the last round)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    if table.round == 0:
        t.append("no round scored yet", style="bold")
    else:
        t.append(f"Round {table.round}", style="bold")
        t.append(f" of {info.rounds_planned}")
        t.append(f" · {table.online:,.0f} online", style="dim")
    if info.status != "finished" and table.round < info.rounds_planned:
        next_window = table.round + rounds_to_window(table.round + 1, info.relegation_every)
        if is_window_round(next_window, info.relegation_every, info.rounds_planned):
            t.append(f" · relegation after r{next_window}", style="red")
    return t


class LeaderboardScreen(ArenaScreen):
    TAB = "board"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("o", "sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="board-body"):
            with Vertical(id="board-main"):
                yield Static("", id="board-caption")
                yield LeaderboardTable(id="leaderboard")
                yield Static("", id="board-empty", classes="empty")
            with Vertical(id="board-side"):
                yield Static("", id="leader-title", classes="panel-title", markup=False)
                yield Thumbnail(id="leader-thumb")
                yield Static("Latest events", classes="panel-title")
                yield FeedTable(show_round=True, compact=True, id="board-feed")

    def on_mount(self) -> None:
        self._feed_seen = 0
        feed = self.query_one("#board-feed", FeedTable)
        feed.filter = FeedFilter(categories=["decision", "stall", "finetune", "relegated", "spawn", "season", "other"])
        super().on_mount()
        self.query_one(LeaderboardTable).focus()

    def reset(self) -> None:
        self._feed_seen = 0
        self.query_one(LeaderboardTable).update_rows([])
        self.query_one("#board-feed", FeedTable).replace([])

    def show_empty(self, problem: str | None) -> None:
        self.query_one("#board-caption", Static).update("")
        empty = self.query_one("#board-empty", Static)
        empty.update(problem or "waiting for the database…")
        empty.display = True

    def update_view(self, model: SeasonModel) -> None:
        info = model.info
        table = model.live_table()
        lb = self.query_one(LeaderboardTable)
        lb.update_rows(table.rows)
        self.query_one("#board-caption", Static).update(round_caption(info, table, len(model.live_ids())))
        empty = self.query_one("#board-empty", Static)
        empty.display = not table.rows
        if not table.rows:
            empty.update("This season has no streamers yet — waiting for the first round…")
        leader = next((r for r in table.rows if r.rank == 1), None)
        self.query_one("#leader-title", Static).update(
            f"Leader: {leader.slot} {leader.name}" if leader else "Leader: —"
        )
        self.query_one("#leader-thumb", Thumbnail).path = leader.thumbnail if leader else None
        items = model.feed(self._feed_seen)
        self._feed_seen += len(items)
        self.query_one("#board-feed", FeedTable).append(items)

    def on_leaderboard_table_streamer_selected(self, event: LeaderboardTable.StreamerSelected) -> None:
        self.post_message(ShowStreamer(event.streamer_id))

    def on_feed_table_item_selected(self, event: FeedTable.ItemSelected) -> None:
        if event.item.streamer_id is not None:
            self.post_message(ShowStreamer(event.item.streamer_id))

    def action_sort(self) -> None:
        self.query_one(LeaderboardTable).action_cycle_sort()

    def action_reverse_sort(self) -> None:
        self.query_one(LeaderboardTable).action_reverse_sort()

    def action_open(self) -> None:
        lb = self.query_one(LeaderboardTable)
        ids = lb.streamer_ids
        if ids and 0 <= lb.cursor_row < len(ids):
            self.post_message(ShowStreamer(ids[lb.cursor_row]))
