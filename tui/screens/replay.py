"""Replay: any season's rounds rebuilt from its event log, with a round scrubber, play/pause and speed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Static

from tui.fold import SeasonModel
from tui.messages import ShowStreamer
from tui.screens.base import ArenaScreen
from tui.screens.leaderboard import round_caption
from tui.widgets.feed import FeedTable
from tui.widgets.leaderboard import LeaderboardTable
from tui.widgets.scrubber import RoundScrubber
from tui.widgets.thumbnail import Thumbnail


class ReplayScreen(ArenaScreen):
    TAB = "replay"
    BINDINGS = [
        Binding("space", "play", "Play/Pause", priority=True),
        Binding("left", "step(-1)", "◀", priority=True),
        Binding("right", "step(1)", "▶", priority=True),
        Binding("plus,equals_sign", "speed(1)", "Faster", priority=True),
        Binding("minus", "speed(-1)", "Slower", priority=True),
        Binding("home", "first", "First", show=False, priority=True),
        Binding("end", "last", "Last", show=False, priority=True),
        Binding("enter", "open", "Open", show=False),
        Binding("o", "sort", "Sort", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._timer: Timer | None = None
        self._shown: tuple | None = None

    def compose_body(self) -> ComposeResult:
        yield RoundScrubber(id="scrubber")
        with Horizontal(id="replay-body"):
            with Vertical(id="replay-main"):
                yield Static("", id="replay-caption")
                yield LeaderboardTable(id="replay-table")
                yield Static("", id="replay-empty", classes="empty")
                yield Static("Events of this round", classes="panel-title")
                yield FeedTable(show_round=False, id="replay-feed")
            with Vertical(id="replay-side"):
                yield Static("", id="replay-leader", classes="panel-title", markup=False)
                yield Thumbnail(id="replay-thumb", placeholder="no thumbnail for this round")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(LeaderboardTable).focus()

    @property
    def scrubber(self) -> RoundScrubber:
        return self.query_one(RoundScrubber)

    def reset(self) -> None:
        self._shown = None
        self._pause()
        self.scrubber.rounds = []
        self.scrubber.round = 0
        self.query_one("#replay-table", LeaderboardTable).update_rows([])
        self.query_one("#replay-feed", FeedTable).replace([])

    def show_empty(self, problem: str | None) -> None:
        empty = self.query_one("#replay-empty", Static)
        empty.update(problem or "no season")
        empty.display = True

    def update_view(self, model: SeasonModel) -> None:
        rounds = model.rounds()
        scrub = self.scrubber
        first = not scrub.rounds
        was_end = bool(scrub.rounds) and scrub.at_end()
        scrub.set_rounds(rounds)
        if rounds and (first or (was_end and not scrub.playing)):
            scrub.round = rounds[-1]  # start on (and follow) the last round; scrub back from there
        self.show_round(scrub.round)

    def show_round(self, r: int) -> None:
        model = self._model
        if model is None:
            return
        table = model.table(r)
        key = (model.season_id, r, table, len(model.round_feed(r)))
        if key == self._shown:  # nothing about this round changed (a live season appended a later one)
            return
        self._shown = key
        lb = self.query_one("#replay-table", LeaderboardTable)
        empty = self.query_one("#replay-empty", Static)
        if table is None:
            lb.update_rows([])
            empty.display = True
            empty.update("No round scored yet: nothing to replay." if not model.rounds() else f"round {r} has no table")
            self.query_one("#replay-caption", Static).update("")
            self.query_one("#replay-feed", FeedTable).replace(model.round_feed(0))
            return
        empty.display = False
        lb.update_rows(table.rows)
        self.query_one("#replay-caption", Static).update(round_caption(model.info, table, len(table.rows)))
        self.query_one("#replay-feed", FeedTable).replace(model.round_feed(r))
        leader = next((row for row in table.rows if row.rank == 1), None)
        self.query_one("#replay-leader", Static).update(f"Leader: {leader.slot} {leader.name}" if leader else "")
        self.query_one("#replay-thumb", Thumbnail).path = leader.thumbnail if leader else None

    @property
    def shown_round(self) -> int:
        return self.scrubber.round

    def seek(self, r: int) -> None:
        self.scrubber.seek(r)

    # ---- events and actions ------------------------------------------------------------------------------------
    def on_round_scrubber_changed(self, event: RoundScrubber.Changed) -> None:
        self.show_round(event.round)

    def on_leaderboard_table_streamer_selected(self, event: LeaderboardTable.StreamerSelected) -> None:
        self.post_message(ShowStreamer(event.streamer_id))

    def on_feed_table_item_selected(self, event: FeedTable.ItemSelected) -> None:
        if event.item.streamer_id is not None:
            self.post_message(ShowStreamer(event.item.streamer_id))

    def action_step(self, n: int) -> None:
        self.scrubber.action_step(n)

    def action_first(self) -> None:
        self.scrubber.action_first()

    def action_last(self) -> None:
        self.scrubber.action_last()

    def action_sort(self) -> None:
        self.query_one("#replay-table", LeaderboardTable).action_cycle_sort()

    def action_open(self) -> None:
        lb = self.query_one("#replay-table", LeaderboardTable)
        ids = lb.streamer_ids
        if ids and 0 <= lb.cursor_row < len(ids):
            self.post_message(ShowStreamer(ids[lb.cursor_row]))

    def action_play(self) -> None:
        scrub = self.scrubber
        if scrub.playing:
            self._pause()
            return
        if not scrub.rounds:
            return
        if scrub.at_end():
            scrub.action_first()
        scrub.playing = True
        self._schedule()

    def action_speed(self, step: int) -> None:
        self.scrubber.faster(step)
        if self.scrubber.playing:
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(1.0 / self.scrubber.speed, self._tick)

    def _tick(self) -> None:
        scrub = self.scrubber
        if scrub.at_end():
            self._pause()
            return
        scrub.action_step(1)

    def _pause(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.scrubber.playing = False

    def on_screen_suspend(self) -> None:
        self._pause()
