"""What every arena screen shares: header, nav bar, a problem banner, the footer, and `sync()`: redraw from the
app's `SeasonModel` when it has changed (called on new data and when the screen comes back into view)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from tui.fold import SeasonModel
from tui.widgets.navbar import NavBar, status_text


class SeasonHost(Protocol):
    """What a screen may read from the app: the season being watched and the problem line, pure data. Commands
    and navigation go the other way, as messages (`tui.messages`), so screens never need the app's class."""

    @property
    def model(self) -> SeasonModel | None: ...

    @property
    def problem(self) -> str | None: ...


class ArenaScreen(Screen):
    TAB = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._model: SeasonModel | None = None
        self._seen_version = -1
        self._seen_problem: str | None = None

    @property
    def arena(self) -> SeasonHost:
        return cast(SeasonHost, self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar(self.TAB)
        yield Static("", id="problem", classes="problem", markup=False)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.sync()

    def on_screen_resume(self) -> None:
        self.sync()

    @property
    def wide(self) -> bool:
        return self.size.width >= 116

    def sync(self, force: bool = False) -> None:
        if not self.is_mounted:
            return
        app = self.arena
        model = app.model
        problem = app.problem
        if model is not self._model:
            self._model = model
            self._seen_version = -1
            self.reset()
        if problem != self._seen_problem or force or self._seen_version == -1:
            self._seen_problem = problem
            banner = self.query_one("#problem", Static)
            banner.update(problem or "")
            banner.display = bool(problem)
        info = model.info if model else None
        online = None
        if model is not None:
            table = model.table(model.last_round)
            online = table.online if table else None
        try:
            self.query_one(NavBar).set_status(
                status_text(
                    info,
                    model.last_round if model else 0,
                    len(model.live_ids()) if model else 0,
                    online,
                    problem,
                    self.wide,
                )
            )
        except Exception:
            pass
        if model is not None and (model.version != self._seen_version or force):
            self._seen_version = model.version
            self.update_view(model)
        elif model is None:
            self.show_empty(problem)

    def sync_streamer_widgets(
        self, container: Widget, wanted: list[int], make: Callable[[int], Widget], model: SeasonModel
    ) -> None:
        """Keep one child of `container` per streamer id in `wanted` (remounted only when the set or order
        changed, since remounting is what makes a screen flicker), then `fill_streamer_widgets`."""
        if getattr(self, "_shown", None) != wanted:
            self._shown = wanted
            self.call_later(self._remount, container, [make(sid) for sid in wanted], model)
            return
        self.fill_streamer_widgets(model)

    async def _remount(self, container: Widget, children: list[Widget], model: SeasonModel) -> None:
        await container.remove_children()
        await container.mount_all(children)
        self.fill_streamer_widgets(model)

    def fill_streamer_widgets(self, model: SeasonModel) -> None:
        """Update the per-streamer children from `model` (screens using `sync_streamer_widgets`)."""

    def reset(self) -> None:
        """The app switched to another season (or lost it): forget what is shown."""

    def update_view(self, model: SeasonModel) -> None:
        """Draw what changed in `model`."""

    def show_empty(self, problem: str | None) -> None:
        """There is no season to show (yet)."""
