"""The Totoroid Arena TUI: attach to a season (running in another process, or finished) and watch it.

    python -m arena tui [--db PATH] [SEASON]      # attach (default: the latest season)
    python -m arena run --tui                     # a season with the TUI in front

The app only reads. One worker thread polls the event log (`Database.events(after_id=...)`) every half
second, folds new events into a `SeasonModel` (`tui.poller`, `tui.fold`) and tells the visible screens to redraw
what changed; widgets update cells in place. Screens ask for navigation with messages (`tui.messages`) that
the app routes here; they never call the app. A missing database, an empty or half-written season and a season
that has not started yet are shown as a message, never a traceback.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from tui.commands import arena_commands
from tui.fold import SeasonModel
from tui.messages import OpenSeason, ReplayRound, ShowStreamer
from tui.model import SeasonInfo
from tui.poller import PollResult, SeasonSource
from tui.screens.base import ArenaScreen
from tui.screens.charts import ChartsScreen
from tui.screens.feed import FeedScreen
from tui.screens.help import HelpScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.previews import PreviewsScreen
from tui.screens.replay import ReplayScreen
from tui.screens.seasons import SeasonSwitcher
from tui.screens.streamer import StreamerScreen
from tui.store import ArenaData, db_exists


class ArenaApp(App[int]):
    """`ArenaApp(db_path, season=None)`: season is an id or a name; None attaches to the latest season."""

    TITLE = "Totoroid Arena"
    CSS_PATH = "arena.tcss"
    MODES = {
        "board": LeaderboardScreen,
        "charts": ChartsScreen,
        "previews": PreviewsScreen,
        "feed": FeedScreen,
        "replay": ReplayScreen,
    }
    DEFAULT_MODE = "board"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (116, "-wide")]
    BINDINGS = [
        Binding("1", "switch_mode('board')", "Board", show=False),
        Binding("2", "switch_mode('charts')", "Charts", show=False),
        Binding("3", "switch_mode('previews')", "Previews", show=False),
        Binding("4", "switch_mode('feed')", "Feed", show=False),
        Binding("5", "switch_mode('replay')", "Replay", show=False),
        Binding("s", "seasons", "Seasons"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    class Polled(Message):
        def __init__(self, generation: int, result: PollResult) -> None:
            super().__init__()
            self.generation = generation
            self.result = result

    def __init__(
        self,
        db_path: str,
        season: str | None = None,
        *,
        poll_interval: float = 0.5,
        image_backend: str = "halfblock",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.db_path = str(db_path)
        self.season_key = None if season is None else str(season)
        self.poll_interval = poll_interval
        self.image_backend = image_backend
        self.model: SeasonModel | None = None
        self.problem: str | None = None
        self.seasons: list[SeasonInfo] | None = None
        self.polls = 0  # answered polls of the current season (tests wait on this)
        self._generation = 0
        self._wake = threading.Event()
        self._stopping = False

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._start_polling()

    def on_unmount(self) -> None:
        self._stopping = True
        self._wake.set()

    def _start_polling(self) -> None:
        self._generation += 1
        self.polls = 0
        self._wake.set()  # let the previous loop see it is stale and leave
        self._wake = threading.Event()
        self._poll_loop(self._generation, SeasonSource(self.db_path, self.season_key), self._wake)

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False, name="season poller")
    def _poll_loop(self, generation: int, source: SeasonSource, wake: threading.Event) -> None:
        worker = get_current_worker()
        try:
            while not worker.is_cancelled and not self._stopping and generation == self._generation:
                result = source.poll()
                if generation != self._generation:
                    break
                self.post_message(self.Polled(generation, result))
                if result.more:
                    continue
                wake.wait(self.poll_interval)
        finally:
            source.close()

    def on_arena_app_polled(self, message: Polled) -> None:
        if message.generation != self._generation:
            return
        res = message.result
        self.polls += 1
        if res.seasons is not None:
            self.seasons = list(res.seasons)
        if not res.changed and res.model is self.model and res.problem == self.problem:
            return
        self.model = res.model
        self.problem = res.problem
        self.sub_title = self.model.info.name if self.model is not None else ""
        self.sync_screens()

    def sync_screens(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ArenaScreen):
                screen.sync()

    def poll_now(self) -> None:
        """Poll again without waiting for the interval."""
        self._wake.set()

    # ---- navigation: the messages screens, widgets and palette commands post ----------------------------------
    def on_show_streamer(self, message: ShowStreamer) -> None:
        """A detail screen on top is replaced rather than stacked (siblings, lineage), so escape always goes back
        to the screen the first detail was opened from."""
        screen = StreamerScreen(message.streamer_id)
        if isinstance(self.screen, StreamerScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_replay_round(self, message: ReplayRound) -> None:
        round_number = message.round_number

        def seek() -> None:  # after the mode switch has mounted the replay screen
            screen = self.screen
            if isinstance(screen, ReplayScreen):
                screen.seek(round_number)

        self.switch_mode("replay")
        self.call_after_refresh(seek)

    def on_open_season(self, message: OpenSeason) -> None:
        """Restart the poller on the other season; whatever was shown of the old one is dropped."""
        key = str(message.key)
        if self.model is not None and str(self.model.season_id) == key:
            return
        self.season_key = key
        self.model = None
        self.problem = None
        while len(self.screen_stack) > 1:  # streamer details belong to the old season
            self.pop_screen()
        self._start_polling()
        self.sync_screens()

    def action_seasons(self) -> None:
        def chosen(key: str | None) -> None:
            if key is not None:
                self.post_message(OpenSeason(key))

        if isinstance(self.screen, SeasonSwitcher):
            return
        self.push_screen(
            SeasonSwitcher(self.db_path, self.model.season_id if self.model else None, self.seasons), chosen
        )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Any:
        yield from arena_commands(self, self.seasons, self.model)
        yield from super().get_system_commands(screen)


def detect_image_backend() -> str:
    """`textual-image` where the terminal shows real images (sixel, kitty), else half-blocks. Must run before
    the app starts (textual-image asks the terminal). ARENA_TUI_IMAGES=halfblock forces half-blocks."""
    if os.environ.get("ARENA_TUI_IMAGES", "auto").lower() in ("halfblock", "half", "none", "off"):
        return "halfblock"
    if not (sys.__stdout__ and sys.__stdout__.isatty()):
        return "halfblock"
    try:
        import textual_image.renderable as renderable
        from textual_image.renderable.sixel import Image as SixelImage
        from textual_image.renderable.tgp import Image as TGPImage

        if renderable.Image in (SixelImage, TGPImage):
            import textual_image.widget  # noqa: F401  (imported now: it queries the cell size while it can)

            return "textual-image"
    except Exception:
        pass
    return "halfblock"


def run_tui(db_path: str, season: str | None = None) -> int:
    """Run the TUI; 2 with one line on stderr when the database (or the named season) does not exist."""
    if not db_exists(db_path):
        print(f"tui: database {db_path} does not exist (start a season with `python -m arena run`)", file=sys.stderr)
        return 2
    if season is not None:
        try:
            data = ArenaData(db_path)
            try:
                found = data.season(season)
            finally:
                data.close()
        except Exception as exc:
            print(f"tui: cannot read {db_path}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
            return 2
        if found is None:
            print(f"tui: no season {season!r} in {db_path}", file=sys.stderr)
            return 2
    app = ArenaApp(db_path, season, image_backend=detect_image_backend())
    result = app.run()
    return int(app.return_code or 0) if result is None else int(result or 0)


__all__ = ["ArenaApp", "run_tui", "detect_image_backend"]
