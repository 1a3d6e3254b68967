"""Two clocks for the decide and stream phases, as two small strategies (Concordia's sequential vs simultaneous
engines), so the round itself never branches on the clock.

- turn: the clock stops while the agents decide; then every stream runs the round on the stream-time cost
  model. Same seed + same decisions = the same season, which is what replay and experiments rely on.
- live: the streams keep running while the agents think (a slow agent costs its stream nothing but stale
  settings); finetune requests made while streaming start on the next round's time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from media.engine_streams import StreamReport
from policies.decide import DecisionOutcome

Decide = Callable[[], list[DecisionOutcome]]
Stream = Callable[[], dict[str, StreamReport]]
StartFinetunes = Callable[[], None]


@dataclass(frozen=True)
class DecidedAndStreamed:
    outcomes: list[DecisionOutcome]
    reports: dict[str, StreamReport]


class Clock(Protocol):
    name: str

    def decide_and_stream(self, decide: Decide, start_finetunes: StartFinetunes, stream: Stream) -> DecidedAndStreamed:
        """Run the round's decisions and streaming in this clock's order."""
        ...


class TurnClock:
    name = "turn"

    def decide_and_stream(self, decide: Decide, start_finetunes: StartFinetunes, stream: Stream) -> DecidedAndStreamed:
        outcomes = decide()
        start_finetunes()
        return DecidedAndStreamed(outcomes, stream())


class LiveClock:
    name = "live"

    def decide_and_stream(self, decide: Decide, start_finetunes: StartFinetunes, stream: Stream) -> DecidedAndStreamed:
        box: dict[str, list[DecisionOutcome]] = {}
        thinker = threading.Thread(target=lambda: box.setdefault("o", decide()), name="decisions", daemon=True)
        thinker.start()
        reports = stream()
        thinker.join()
        start_finetunes()  # requests made while streaming start now, on the next round's time
        return DecidedAndStreamed(box.get("o", []), reports)


CLOCKS: dict[str, type[TurnClock] | type[LiveClock]] = {"turn": TurnClock, "live": LiveClock}


def make_clock(name: str) -> Clock:
    return CLOCKS[name]()
