"""Which engine actor owns which stream: least-loaded placement, pure and saved with the season.

Why a module of its own: the rule (a new stream goes to the actor with the fewest streams, ties to the lowest
index; a removed stream frees its slot) must give the same placement on a resumed season, so it is a plain
value with a state, testable without Ray (tests/media/test_placement.py).
"""

from __future__ import annotations

from typing import Any


class Placement:
    def __init__(self, actors: int) -> None:
        if actors < 1:
            raise ValueError(f"need at least one actor, got {actors}")
        self.actors = int(actors)
        self.owner: dict[str, int] = {}  # stream id -> actor index, in placement order

    def load(self) -> list[int]:
        """Streams per actor."""
        counts = [0] * self.actors
        for i in self.owner.values():
            counts[i] += 1
        return counts

    def place(self, stream_id: str) -> int:
        """Give a new stream to the least-loaded actor (lowest index on a tie)."""
        if stream_id in self.owner:
            raise ValueError(f"stream {stream_id!r} is already placed on actor {self.owner[stream_id]}")
        counts = self.load()
        index = counts.index(min(counts))
        self.owner[stream_id] = index
        return index

    def free(self, stream_id: str) -> int:
        """A relegated stream leaves; returns the actor it was on."""
        return self.owner.pop(stream_id)

    def of(self, stream_id: str) -> int:
        try:
            return self.owner[stream_id]
        except KeyError:
            raise KeyError(f"unknown stream {stream_id!r}") from None

    def streams_on(self, index: int) -> list[str]:
        return [sid for sid, i in self.owner.items() if i == index]

    def state_dict(self) -> dict[str, Any]:
        return {"actors": self.actors, "owner": dict(self.owner)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Placement:
        p = cls(int(state["actors"]))
        p.owner = {str(k): int(v) for k, v in state["owner"].items()}
        return p
