"""Scoring a round: ERN shares, standings and openskill ratings.

Pure functions of their inputs, so the season loop and `arena.season_replay` compute standings the same way and
replay can check the stored tables against the event log. Ratings: openskill's PlackettLuce over the round's
ERN (docs/facts.md): every streamer is a one-player team, higher ERN ranks higher; display the ordinal
(mu - 3 sigma); store mu and sigma and rebuild with `create_rating`.
"""

from __future__ import annotations

from dataclasses import dataclass

from openskill.models import PlackettLuce

_MODEL = PlackettLuce()


@dataclass(frozen=True)
class Rating:
    mu: float
    sigma: float

    @property
    def ordinal(self) -> float:
        return ordinal(self.mu, self.sigma)


def ordinal(mu: float, sigma: float) -> float:
    """The displayed rating: a conservative skill estimate, mu - 3 sigma (openskill's ordinal)."""
    return mu - 3 * sigma


def new_rating() -> Rating:
    r = _MODEL.rating()
    return Rating(mu=float(r.mu), sigma=float(r.sigma))


def rate_round(ratings: dict[int, Rating], ern: dict[int, float]) -> dict[int, Rating]:
    """Update every streamer that played this round from its ERN mean. Deterministic."""
    ids = sorted(ern)
    if len(ids) < 2:
        return {i: ratings.get(i, new_rating()) for i in ids}
    teams = [[_MODEL.create_rating([ratings.get(i, new_rating()).mu, ratings.get(i, new_rating()).sigma])] for i in ids]
    rated = _MODEL.rate(teams, scores=[float(ern[i]) for i in ids])
    return {i: Rating(mu=float(t[0].mu), sigma=float(t[0].sigma)) for i, t in zip(ids, rated)}


@dataclass(frozen=True)
class Standing:
    streamer_id: int
    rank: int
    ern_mean: float
    share: float
    rating: Rating


def standings(ern: dict[int, float], ratings: dict[int, Rating]) -> list[Standing]:
    """Rank by ERN mean (desc), ties by rating ordinal (desc), then by id (older first)."""
    total = sum(ern.values())
    order = sorted(ern, key=lambda i: (-round(ern[i], 9), -round(ratings[i].ordinal, 9), i))
    return [
        Standing(
            streamer_id=i, rank=k + 1, ern_mean=ern[i], share=(ern[i] / total if total > 0 else 0.0), rating=ratings[i]
        )
        for k, i in enumerate(order)
    ]


def score_round(ratings: dict[int, Rating], ern: dict[int, float]) -> tuple[dict[int, Rating], list[Standing]]:
    """The standings fold, one step: the round's ERN and the ratings before it -> new ratings and the table.
    The loop, replay and the TUI all fold a season's rounds through this one function."""
    new = rate_round(ratings, ern)
    return new, (standings(ern, new) if ern else [])
