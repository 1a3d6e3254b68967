"""Command palette entries (ctrl+p): screens, seasons, streamers and replay jumps.

Each entry posts the same message (`tui.messages`) as the key or click that does the same thing, so the palette
adds no second way of navigating; built-in app actions (modes, help, the season switcher) run as actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.message import Message

from tui.fold import SeasonModel
from tui.messages import OpenSeason, ReplayRound, ShowStreamer
from tui.model import SeasonInfo
from tui.widgets.navbar import TABS


def _post(app: App[Any], make: Callable[[], Message]) -> Callable[[], None]:
    """A palette callback posting a fresh message each time the entry is chosen."""

    def post() -> None:
        app.post_message(make())

    return post


def arena_commands(
    app: App[Any], seasons: list[SeasonInfo] | None, model: SeasonModel | None
) -> Iterable[SystemCommand]:
    for mode, key, label in TABS:
        yield SystemCommand(
            f"Show {label.lower()}", f"switch to the {label.lower()} screen (key {key})", partial(app.switch_mode, mode)
        )
    yield SystemCommand(
        "Switch season", "attach to another season of this database (key s)", partial(app.run_action, "seasons")
    )
    yield SystemCommand("Help", "keys of every screen (key ?)", partial(app.run_action, "help"))
    for s in seasons or []:
        yield SystemCommand(
            f"Season {s.name}",
            f"{s.status}, {s.rounds_done}/{s.rounds_planned} rounds",
            _post(app, partial(OpenSeason, str(s.id))),
            discover=False,
        )
    if model is None:
        return
    for st in model.streamers():
        yield SystemCommand(
            f"Streamer {st.slot} {st.name}",
            f"{st.origin}, {st.status}: open its detail",
            _post(app, partial(ShowStreamer, st.id)),
            discover=False,
        )
    for r in model.rounds():
        yield SystemCommand(
            f"Replay round {r}", "open the replay at this round", _post(app, partial(ReplayRound, r)), discover=False
        )
