"""What screens, widgets and palette commands ask the app to do: navigation and commands, as messages.

Screens post these and the app routes them (`ArenaApp.on_show_streamer`, ...), so a screen needs no reference
to the app class (no import cycle) and every way into a view (a table row, a feed item, a preview card, the
lineage tree, the command palette) goes through one handler. They bubble from the poster up to the app.
"""

from __future__ import annotations

from textual.message import Message


class ShowStreamer(Message):
    """Open a streamer's detail screen (replacing the one shown, if a detail screen is on top)."""

    def __init__(self, streamer_id: int) -> None:
        super().__init__()
        self.streamer_id = streamer_id


class OpenSeason(Message):
    """Attach to another season of the same database, by id or name."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class ReplayRound(Message):
    """Show the replay screen at a round."""

    def __init__(self, round_number: int) -> None:
        super().__init__()
        self.round_number = round_number
