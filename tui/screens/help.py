"""`?`: what every key does."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Everywhere",
        (
            ("1 2 3 4 5", "leaderboard · charts · previews · feed · replay"),
            ("enter", "open the selected streamer"),
            ("s", "switch season"),
            ("ctrl+p", "command palette (screens, seasons, streamers, rounds)"),
            ("?  q  esc", "this help · quit · back"),
        ),
    ),
    (
        "Leaderboard",
        (
            ("o  O", "sort by the next column · reverse (or click a header)"),
            ("red rows", "the relegation zone: relegated at the next window"),
        ),
    ),
    (
        "Feed",
        (
            ("d l f x n", "decisions · stalls · finetunes · relegations · spawns"),
            ("r g o", "rounds · season · other kinds"),
            ("e  a  /", "errors only · show all · search streamer or text"),
        ),
    ),
    (
        "Replay",
        (
            ("space", "play / pause"),
            ("← →  home end", "one round · first / last round (or click the bar)"),
            ("+ -", "faster / slower"),
        ),
    ),
    (
        "Streamer",
        (
            ("p l t d v", "persona · lineage · settings · decisions · events"),
            ("[ ]", "previous / next streamer"),
        ),
    ),
)


def help_renderable() -> Group:
    parts = []
    for title, rows in SECTIONS:
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold cyan", no_wrap=True, min_width=14)
        t.add_column()
        for key, what in rows:
            t.add_row(key, what)
        parts += [Text(title, style="bold underline"), t, Text("")]
    parts.append(
        Text("The TUI only reads the database: a running season is never blocked or slowed by it.", style="dim")
    )
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="dialog"):
            yield Static("Totoroid Arena — keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(help_renderable())
            yield Static("esc close", classes="dialog-help")
