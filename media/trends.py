"""The trend feed v1: synthetic live topics whose popularity drifts, seeded.

Agents read it (`read_trends`) and the audience rewards alignment with it. Titles are written so that they
look like the outside world's (and later issues feed real, untrusted titles through the same type).
Popularity follows a geometric random walk with mean reversion: a modelling choice that makes the top topics
change every few rounds, as the top channels on Twitch do (FACTS.md).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TOPICS = [
    "ocean waves",
    "city night traffic",
    "forest wind",
    "space nebula",
    "fireworks",
    "desert sunset",
    "rain on glass",
    "neon tunnel",
]


class TrendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS), min_length=1, max_length=64)
    base_viewers: int = Field(5000, ge=1, description="mean viewers of a synthetic live topic")
    volatility: float = Field(0.35, ge=0, le=3, description="std of the log-popularity step per round")
    reversion: float = Field(0.2, ge=0, le=1, description="pull of log-popularity back to its mean per round")
    shown: int = Field(5, ge=1, le=64, description="how many trends an agent sees")


class Trend(BaseModel):
    id: str
    title: str
    topic: str
    viewers: int


class SyntheticTrendFeed:
    def __init__(self, config: TrendConfig, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.log_pop = rng.normal(0.0, config.volatility, size=len(config.topics))

    def step(self) -> None:
        c = self.config
        noise = self.rng.normal(0.0, c.volatility, size=len(c.topics))
        self.log_pop = (1 - c.reversion) * self.log_pop + noise

    def current(self) -> list[Trend]:
        c = self.config
        viewers = np.round(c.base_viewers * np.exp(self.log_pop)).astype(int)
        order = np.argsort(-viewers, kind="stable")
        return [
            Trend(id=f"synthetic:{i}", title=f"LIVE: {c.topics[i]}", topic=c.topics[i], viewers=int(viewers[i]))
            for i in order[: c.shown]
        ]

    def weights(self) -> np.ndarray:
        """Popularity share of every topic (sums to 1), in config order."""
        p = np.exp(self.log_pop)
        return p / p.sum()

    def state_dict(self) -> dict:
        return {"log_pop": self.log_pop.tolist()}

    def load_state_dict(self, d: dict) -> None:
        self.log_pop = np.asarray(d["log_pop"], dtype=float)
