"""The season switcher: every season in the database; pick one to attach to it."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.model import SeasonInfo
from tui.store import ArenaData
from tui.widgets.navbar import STATUS_STYLE


def season_prompt(s: SeasonInfo, current: bool) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("▸ " if current else "  ", style="bold")
    t.append(f"{s.name}", style="bold" if current else "")
    t.append(f"  {s.status}", style=STATUS_STYLE.get(s.status, ""))
    t.append(f"  {s.rounds_done}/{s.rounds_planned} rounds", style="dim")
    return t


class SeasonSwitcher(ModalScreen[str | None]):
    """Dismisses with the chosen season's name (or None)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, db_path: str, current: int | None, seasons: list[SeasonInfo] | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.current = current
        self.seasons = seasons

    def compose(self) -> ComposeResult:
        with Vertical(id="switcher", classes="dialog"):
            yield Static("Seasons", classes="dialog-title")
            yield OptionList(id="season-list")
            yield Static("↑↓ choose · enter attach · esc close", classes="dialog-help")

    def on_mount(self) -> None:
        if self.seasons is not None:
            self.show(self.seasons)
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        try:
            data = ArenaData(self.db_path)
            try:
                seasons = data.seasons()
            finally:
                data.close()
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"cannot list seasons: {exc}", severity="error")
            return
        self.app.call_from_thread(self.show, seasons)

    def show(self, seasons: list[SeasonInfo]) -> None:
        self.seasons = seasons
        ol = self.query_one(OptionList)
        ol.clear_options()
        if not seasons:
            ol.add_option(Option("no seasons in this database yet", id="-", disabled=True))
            return
        for s in reversed(seasons):
            ol.add_option(Option(season_prompt(s, s.id == self.current), id=str(s.id)))
        for i, s in enumerate(reversed(seasons)):
            if s.id == self.current:
                ol.highlighted = i
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id != "-":
            self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
