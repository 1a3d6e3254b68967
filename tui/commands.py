"""Command palette entries (ctrl+p): screens, seasons, streamers and replay jumps."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from tui.widgets.navbar import TABS

if TYPE_CHECKING:
    from tui.app import ArenaApp


def arena_commands(app: ArenaApp) -> Iterable[SystemCommand]:
    for mode, key, label in TABS:
        yield SystemCommand(
            f"Show {label.lower()}", f"switch to the {label.lower()} screen (key {key})", partial(app.switch_mode, mode)
        )
    yield SystemCommand("Switch season", "attach to another season of this database (key s)", app.action_seasons)
    yield SystemCommand("Help", "keys of every screen (key ?)", app.action_help)
    for s in app.seasons or []:
        yield SystemCommand(
            f"Season {s.name}",
            f"{s.status}, {s.rounds_done}/{s.rounds_planned} rounds",
            partial(app.switch_season, str(s.id)),
            discover=False,
        )
    model = app.model
    if model is not None:
        for st in model.streamers():
            yield SystemCommand(
                f"Streamer {st.slot} {st.name}",
                f"{st.origin}, {st.status}: open its detail",
                partial(app.open_streamer, st.id),
                discover=False,
            )
        for r in model.rounds():
            yield SystemCommand(
                f"Replay round {r}", "open the replay at this round", partial(app.replay_round, r), discover=False
            )
