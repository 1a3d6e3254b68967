"""The replay scrubber: a one-line round slider with play/pause and speed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)


class RoundScrubber(Widget, can_focus=True):
    """`round` is the round shown, in `rounds` (the scored round numbers). Clicking the bar seeks."""

    DEFAULT_CSS = """
    RoundScrubber { height: 1; width: 1fr; }
    RoundScrubber > .scrubber--done { color: $accent; }
    RoundScrubber > .scrubber--todo { color: $text-muted; }
    RoundScrubber > .scrubber--knob { color: $text; text-style: bold; }
    RoundScrubber > .scrubber--label { text-style: bold; }
    RoundScrubber:focus > .scrubber--knob { color: $accent-lighten-2; }
    """
    COMPONENT_CLASSES = {"scrubber--done", "scrubber--todo", "scrubber--knob", "scrubber--label"}

    BINDINGS = [
        Binding("left", "step(-1)", "Prev", show=False),
        Binding("right", "step(1)", "Next", show=False),
        Binding("pageup,shift+left", "step(-5)", "-5", show=False),
        Binding("pagedown,shift+right", "step(5)", "+5", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    round: reactive[int] = reactive(0)
    playing: reactive[bool] = reactive(False)
    speed: reactive[float] = reactive(1.0)

    class Changed(Message):
        def __init__(self, scrubber: RoundScrubber, round: int) -> None:
            super().__init__()
            self.scrubber = scrubber
            self.round = round

        @property
        def control(self) -> RoundScrubber:
            return self.scrubber

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rounds: list[int] = []
        self._bar_start = 0
        self._bar_width = 0

    # ---- model -------------------------------------------------------------------------------------------------
    def set_rounds(self, rounds: list[int]) -> None:
        self.rounds = list(rounds)
        if self.rounds and self.round not in self.rounds:
            self.round = self._nearest(self.round) if self.round else self.rounds[-1]
        self.refresh()

    def _nearest(self, r: int) -> int:
        if not self.rounds:
            return 0
        return min(self.rounds, key=lambda x: (abs(x - r), x))

    def seek(self, r: int) -> None:
        if not self.rounds:
            return
        self.round = self._nearest(r)

    def watch_round(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Changed(self, new))
        self.refresh()

    def watch_playing(self) -> None:
        self.refresh()

    def watch_speed(self) -> None:
        self.refresh()

    @property
    def index(self) -> int:
        return self.rounds.index(self.round) if self.round in self.rounds else -1

    def action_step(self, n: int) -> None:
        if not self.rounds:
            return
        i = self.index if self.index >= 0 else 0
        self.round = self.rounds[max(0, min(len(self.rounds) - 1, i + n))]

    def action_first(self) -> None:
        if self.rounds:
            self.round = self.rounds[0]

    def action_last(self) -> None:
        if self.rounds:
            self.round = self.rounds[-1]

    def at_end(self) -> bool:
        return not self.rounds or self.round >= self.rounds[-1]

    def faster(self, step: int) -> None:
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - self.speed))
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, i + step))]

    # ---- view --------------------------------------------------------------------------------------------------
    def render(self) -> Text:
        width = self.content_size.width
        total = self.rounds[-1] if self.rounds else 0
        speed = f"{self.speed:g}×"
        label = Text()
        label.append("⏸ " if self.playing else "▶ ", style="bold green" if self.playing else "bold")
        label.append(f"{speed:>4} ", style="dim")
        label.append(
            f"round {self.round:>{len(str(total))}}/{total} ", style=self.get_component_rich_style("scrubber--label")
        )
        self._bar_start = label.cell_len
        self._bar_width = max(0, width - self._bar_start)
        bar = Text()
        n = len(self.rounds)
        if self._bar_width >= 3 and n:
            pos = 0 if n == 1 else round(self.index / (n - 1) * (self._bar_width - 1))
            bar.append("━" * pos, style=self.get_component_rich_style("scrubber--done"))
            bar.append("●", style=self.get_component_rich_style("scrubber--knob"))
            bar.append("─" * (self._bar_width - pos - 1), style=self.get_component_rich_style("scrubber--todo"))
        elif not n:
            bar.append("no rounds scored yet", style="dim")
        return label + bar

    def on_click(self, event: events.Click) -> None:
        if not self.rounds or self._bar_width < 3:
            return
        x = event.x - self._bar_start
        if x < 0:
            return
        n = len(self.rounds)
        i = 0 if n == 1 else round(min(x, self._bar_width - 1) / (self._bar_width - 1) * (n - 1))
        self.round = self.rounds[i]
