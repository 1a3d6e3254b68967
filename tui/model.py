"""The plain, frozen values the TUI's widgets and screens see: a season, its streamers, a round's table, the feed.

Kept apart from the fold (`tui.fold`) and the database (`tui.store`) so that screens and widgets depend on data
only, never on how it is read or derived: they can be drawn from a fixture as well as from a live season.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SeasonInfo:
    id: int
    name: str
    seed: int
    status: str  # running | stopped | finished
    rounds_planned: int
    rounds_done: int
    run_dir: str  # resolved folder of the season's artifacts
    relegation_every: int = 3
    relegation_fraction: float = 0.2
    policy: str = ""
    streamers_planned: int = 0
    clock: str = ""


@dataclass(frozen=True)
class EventRecord:
    id: int
    round: int
    kind: str
    payload: dict[str, Any]
    tick: int = 0


@dataclass(frozen=True)
class Mutation:
    field: str
    old: Any
    new: Any
    how: str


@dataclass(frozen=True)
class StreamerInfo:
    id: int
    slot: str
    name: str
    persona: dict[str, Any]
    settings: dict[str, Any]  # settings at birth
    parent_id: int | None
    origin: str
    born_round: int
    replaces: int | None = None
    mutations: tuple[Mutation, ...] = ()
    status: str = "live"  # live | relegated
    relegated_round: int | None = None
    window_ern: float | None = None
    children: tuple[int, ...] = ()
    reflection: str = ""  # its latest reflection (a `reflection` event), or what it inherited at spawn


@dataclass(frozen=True)
class LeaderRow:
    """One streamer's line of a round's table."""

    streamer_id: int
    slot: str
    name: str
    rank: int | None
    ern: float | None
    ern_peak: int | None
    share: float | None
    rating: float | None  # openskill ordinal: mu - 3 sigma
    rating_mu: float | None
    rating_sigma: float | None
    prev_rank: int | None
    stall_count: int
    stall_seconds: float
    buffer_level: int | None
    buffer_capacity: int | None
    status: str  # live | zone | relegated | new
    thumbnail: str | None  # absolute path of this round's thumbnail, when the file exists
    history: tuple[float, ...] = ()  # ERN of this streamer up to this round (the last 32)
    settings: dict[str, Any] = field(default_factory=dict)
    window_ern: float | None = None

    @property
    def trend(self) -> str:
        """up | down | same | new, from the rank change against the previous round."""
        if self.rank is None or self.prev_rank is None:
            return "new"
        if self.rank < self.prev_rank:
            return "up"
        if self.rank > self.prev_rank:
            return "down"
        return "same"

    @property
    def buffer_fill(self) -> float | None:
        if self.buffer_level is None or not self.buffer_capacity:
            return None
        return max(0.0, min(1.0, self.buffer_level / self.buffer_capacity))


@dataclass(frozen=True)
class RoundTable:
    round: int
    sim_time: float
    online: float
    rows: tuple[LeaderRow, ...]

    def row(self, streamer_id: int) -> LeaderRow | None:
        return next((r for r in self.rows if r.streamer_id == streamer_id), None)


@dataclass(frozen=True)
class FeedItem:
    id: int  # event id (unique, monotonic)
    round: int
    kind: str
    category: str  # one of CATEGORIES
    streamer_id: int | None
    slot: str
    name: str
    summary: str
    ok: bool = True


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: dict[str, Any]
    result: str
    ok: bool


@dataclass(frozen=True)
class DecisionRecord:
    event_id: int
    round: int
    policy: str
    ok: bool
    error: str | None
    seconds: float
    actions: tuple[ToolCall, ...]


@dataclass(frozen=True)
class SettingsChange:
    round: int
    settings: dict[str, Any]
    changed: tuple[str, ...]  # keys that differ from the previous entry (all keys for the first)


# Feed categories, in the order the filter bar shows them.
CATEGORIES: dict[str, str] = {
    "decision": "decisions",
    "stall": "stalls",
    "finetune": "finetunes",
    "relegated": "relegations",
    "spawn": "spawns",
    "round": "rounds",
    "season": "season",
    "other": "other",
}


def category_of(kind: str) -> str:
    if kind == "decision":
        return "decision"
    if kind == "stall":
        return "stall"
    if kind.startswith("finetune"):
        return "finetune"
    if kind == "relegated":
        return "relegated"
    if kind == "streamer_spawned":
        return "spawn"
    if kind == "round_scored":
        return "round"
    if kind.startswith("season_"):
        return "season"
    return "other"
