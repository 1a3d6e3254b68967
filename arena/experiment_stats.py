"""The statistics of an experiment: a policy's mean share and paired differences, with bootstrap CIs.

Why a bootstrap over seasons: a season is the unit that is independent (its own seed, audience and trends);
rounds within one season are not, so resampling rounds would give intervals far too narrow. Why paired
differences: in a mixed season both policies face the same audience, trends and personas, so the difference of
their shares in that season cancels the season's luck; its CI is narrower than two separate CIs suggest.

Pure functions on plain numbers (no database), so they are tested on hand-made values.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from pydantic import BaseModel

#: Bootstrap resamples and the fixed seed that makes a report print the same interval every time.
RESAMPLES = 2000
BOOTSTRAP_SEED = 20240917
LEVEL = 0.95


class MeanCI(BaseModel):
    """A mean and its percentile-bootstrap interval; `n` values went in."""

    mean: float
    low: float
    high: float
    n: int


class PairedComparison(BaseModel):
    """Policy `a` minus policy `b`, season by season: mean difference of shares, its CI, and the fraction of
    seasons where `a` had the strictly larger share."""

    a: str
    b: str
    mean_diff: float
    low: float
    high: float
    a_wins: float
    seasons: int


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = LEVEL
) -> MeanCI:
    """Mean of `values` with the percentile bootstrap CI (resample the values with replacement `resamples`
    times; the CI is the middle `level` of the resampled means). One value: a zero-width interval."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return MeanCI(mean=mean, low=mean, high=mean, n=1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return MeanCI(mean=mean, low=float(low), high=float(high), n=int(x.size))


def paired(a: str, b: str, share_a: Sequence[float], share_b: Sequence[float], **kw: float) -> PairedComparison:
    """`a` vs `b` over the same seasons (`share_a[i]` and `share_b[i]` come from season i)."""
    if len(share_a) != len(share_b):
        raise ValueError("paired shares must come from the same seasons")
    diff = np.asarray(share_a, dtype=float) - np.asarray(share_b, dtype=float)
    ci = bootstrap_ci(diff, **kw)  # type: ignore[arg-type]
    return PairedComparison(
        a=a, b=b, mean_diff=ci.mean, low=ci.low, high=ci.high, a_wins=float(np.mean(diff > 0)), seasons=ci.n
    )


def all_pairs(shares: dict[str, Sequence[float]]) -> list[PairedComparison]:
    """Every unordered pair of policies, in the order the policies are given (a before b)."""
    return [paired(a, b, shares[a], shares[b]) for a, b in combinations(shares, 2)]


def season_shares(ern_by_policy: dict[str, float]) -> dict[str, float]:
    """Each policy's share of the season's total ERN. A season nobody watched (total 0) is a tie: every
    policy gets the fair share, rather than a division by zero that would poison every mean."""
    total = sum(ern_by_policy.values())
    if total <= 0:
        return {p: 1.0 / len(ern_by_policy) for p in ern_by_policy}
    return {p: v / total for p, v in ern_by_policy.items()}
