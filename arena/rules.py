"""The league's rules, each written once: who is in the relegation zone, how a window ranks streamers.

The season loop (what the agent is told and who is actually relegated), the TUI's table and replay all
import these functions, so an agent can never be told it is in the zone while the table and the relegation
say otherwise. Pure functions of plain values; `tests/arena/test_rules.py` pins them down.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def relegation_count(n_live: int, fraction: float) -> int:
    """How many streamers a relegation window sends down: the bottom `fraction`, at least one, never all
    (a lone streamer is never relegated)."""
    if n_live < 2:
        return 0
    return min(n_live - 1, max(1, math.floor(n_live * fraction)))


def is_window_round(round_number: int, every: int, rounds_total: int) -> bool:
    """Relegation happens after every `every`-th round, except after the season's last round."""
    return every > 0 and round_number % every == 0 and round_number < rounds_total


def rounds_into_window(round_number: int, every: int) -> int:
    """Rounds played in the current window after `round_number` (1..every): the ERN a window ranks by."""
    return (round_number - 1) % max(1, every) + 1


def rounds_to_window(next_round: int, every: int) -> int:
    """Counting `next_round` itself, how many rounds until the window closes (0 when relegation is off)."""
    return (every - (next_round - 1) % every) if every > 0 else 0


def window_ern(history: Sequence[float], rounds: int) -> float:
    """Mean ERN over the last `rounds` entries of a streamer's history (a newcomer's shorter history
    counts as it is); 0 before any round."""
    recent = list(history[-rounds:]) if rounds > 0 else []
    return float(sum(recent) / len(recent)) if recent else 0.0


def window_order(keys: Iterable[K], window: Mapping[K, float], ordinal: Mapping[K, float]) -> list[K]:
    """Best first: window ERN (desc), then rating ordinal (desc), then key (older streamer first)."""
    return sorted(keys, key=lambda k: (-window[k], -ordinal[k], k))


def relegation_zone(window: Mapping[K, float], ordinal: Mapping[K, float], fraction: float) -> list[K]:
    """The streamers a window closing now would relegate, worst last."""
    order = window_order(window, window, ordinal)
    n = relegation_count(len(order), fraction)
    return order[len(order) - n :] if n else []


def window_ahead(from_round: int, every: int, rounds_total: int) -> bool:
    """Whether a relegation window still closes at `from_round` or later in this season."""
    return any(is_window_round(w, every, rounds_total) for w in range(max(1, from_round), rounds_total + 1))


def standing_zone(
    histories: Mapping[K, Sequence[float]], ordinal: Mapping[K, float], *, played: int, every: int, fraction: float
) -> list[K]:
    """The zone after `played` rounds: the bottom of the ranking by ERN over the rounds played so far in the
    window that round `played` belongs to (at a window's last round: exactly who that window relegates)."""
    rounds = rounds_into_window(played, every)
    window = {k: window_ern(h, rounds) for k, h in histories.items()}
    return relegation_zone(window, ordinal, fraction)


def zone_after(
    histories: Mapping[K, Sequence[float]],
    ordinal: Mapping[K, float],
    *,
    played: int,
    every: int,
    fraction: float,
    rounds_total: int,
) -> list[K]:
    """The relegation zone after round `played` over the streamers who played it: what the table shows, what
    the agents are told before the next round (less anyone relegated since) and, at a window, exactly who
    goes. Empty once no window is left in the season: a zone nobody can be relegated from is a false alarm."""
    if played < 1 or not window_ahead(played, every, rounds_total):
        return []
    return standing_zone(histories, ordinal, played=played, every=every, fraction=fraction)


def line_gap(
    histories: Mapping[K, Sequence[float]],
    ordinal: Mapping[K, float],
    key: K,
    *,
    played: int,
    every: int,
    fraction: float,
    rounds_total: int,
) -> float | None:
    """How far streamer `key` is from the relegation line after round `played`, in window ERN (viewers):
    positive = safe by that many over the best streamer in the zone; negative = in the zone, that many
    under the worst safe streamer. None when no window is ahead, nobody can go, or the window just closed.
    Uses the same ranking as `zone_after`, so the gap's sign always agrees with the zone the agent is told."""
    if played < 1 or every <= 0 or not window_ahead(played + 1, every, rounds_total) or played % every == 0:
        return None
    rounds = rounds_into_window(played, every)
    window = {k: window_ern(h, rounds) for k, h in histories.items()}
    order = window_order(window, window, ordinal)
    n = relegation_count(len(order), fraction)
    if n == 0 or key not in window:
        return None
    safe, zone = order[: len(order) - n], order[len(order) - n :]
    if key in zone:
        return window[key] - window[safe[-1]]
    return window[key] - window[zone[0]]
