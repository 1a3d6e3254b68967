"""The line under the header: the screens (with their keys) and the season's status."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui.model import SeasonInfo

TABS = (
    ("board", "1", "Board"),
    ("charts", "2", "Charts"),
    ("previews", "3", "Previews"),
    ("feed", "4", "Feed"),
    ("replay", "5", "Replay"),
)
STATUS_STYLE = {"running": "bold green", "stopped": "bold yellow", "finished": "bold blue"}


def tabs_markup(current: str) -> str:
    parts = []
    for mode, key, label in TABS:
        if mode == current:
            parts.append(f"[reverse b] {key} {label} [/]")
        else:
            parts.append(f"[@click=app.switch_mode('{mode}')][b]{key}[/b] {label}[/]")
    return " ".join(parts)


def status_text(
    info: SeasonInfo | None, last_round: int, live: int, online: float | None, problem: str | None, wide: bool = False
) -> Text:
    t = Text(justify="right", no_wrap=True, overflow="ellipsis")
    if problem and info is None:
        t.append("⚠ no data", style="bold yellow")
        return t
    if info is None:
        t.append("connecting…", style="dim")
        return t
    t.append("● ", style=STATUS_STYLE.get(info.status, "bold"))
    t.append(info.status, style=STATUS_STYLE.get(info.status, "bold"))
    t.append(f"  r{last_round}/{info.rounds_planned}", style="bold")
    t.append(f"  {live} live", style="")
    if wide and online is not None:
        t.append(f"  {online:,.0f} online", style="dim")
    if problem:
        t.append("  ⚠", style="bold yellow")
    return t


class NavBar(Horizontal):
    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; }
    NavBar > #nav-tabs { width: auto; }
    NavBar > #nav-status { width: 1fr; text-align: right; padding-right: 1; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current

    def compose(self) -> ComposeResult:
        yield Static(tabs_markup(self.current), id="nav-tabs")
        yield Static("", id="nav-status")

    def set_status(self, text: Text) -> None:
        self.query_one("#nav-status", Static).update(text)
