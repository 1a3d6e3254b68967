"""The trend feed: live topics with viewer counts that agents read, and frames that finetuning samples.

Agents read it (`read_trends`) and the audience rewards alignment with it. v1 listed only synthetic topics
(`topics`); v2 adds configured sources (`sources`: synthetic scenes, video files/folders, URLs PyAV opens,
YouTube live via yt-dlp; see media.sources.config) and a frame sampler for every listed id.

Popularity of anything without a real viewer count follows a geometric random walk with mean reversion: a
modelling choice that makes the top topics change every few rounds, as the top channels on Twitch do
(docs/facts.md). YouTube streams report real concurrent viewers where yt-dlp gives them. With no `sources` the
feed draws exactly the random numbers v1 drew, so v1 seasons replay unchanged. Titles from the internet are
untrusted: media.sources cleans them (no control characters, capped length) before they get here.
"""

from __future__ import annotations

import re
import threading

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from media.sources import Catalog, SourceConfig, SourceError, SyntheticScene, clean_title
from media.sources.base import check_sample_args

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
SCENE_FPS = 8.0
TOPIC_ID = re.compile(r"^synthetic:\d+$")


class TrendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS), min_length=1, max_length=64)
    base_viewers: int = Field(5000, ge=1, description="mean viewers of a synthetic live topic")
    volatility: float = Field(0.35, ge=0, le=3, description="std of the log-popularity step per round")
    reversion: float = Field(0.2, ge=0, le=1, description="pull of log-popularity back to its mean per round")
    shown: int = Field(5, ge=1, le=64, description="how many trends an agent sees")
    sources: list[SourceConfig] = Field(
        default_factory=list,
        max_length=64,
        description="more trend sources: [{kind: synthetic|file|url|youtube, ...}] (media.sources.config)",
    )
    scene_seed: int = Field(0, description="seed of the built-in scenes drawn for `topics`")


class Trend(BaseModel):
    id: str
    title: str
    topic: str
    viewers: int


class TrendFeed:
    """Topics (ids `synthetic:<i>`, as in v1) plus configured sources (ids `<kind>:src<index>` or their `id`)."""

    def __init__(self, config: TrendConfig, rng: np.random.Generator, catalog: Catalog | None = None):
        self.config = config
        self.rng = rng
        self.log_pop = rng.normal(0.0, config.volatility, size=len(config.topics))
        self.scenes = [SyntheticScene(t, config.scene_seed) for t in config.topics]
        self.scene_clock = [0.0] * len(config.topics)
        self._clock_lock = threading.Lock()  # finetuning may sample from another thread
        self.catalog = catalog if catalog is not None else Catalog(config.sources)
        for i, sc in enumerate(config.sources):
            if sc.id is not None and TOPIC_ID.match(sc.id):
                raise SourceError(f"trends.sources[{i}].id: {sc.id!r} is reserved for trends.topics")
        self.source_log_pop: dict[str, float] = {}  # simulated popularity of sources without a real count

    # ------------------------------------------------------------------ popularity
    def step(self) -> None:
        c = self.config
        noise = self.rng.normal(0.0, c.volatility, size=len(c.topics))
        self.log_pop = (1 - c.reversion) * self.log_pop + noise
        simulated = [s.id for s in self.catalog.sources() if s.viewers() is None]
        if simulated:  # drawn only when sources exist: a v1 config draws exactly what v1 drew
            steps = self.rng.normal(0.0, c.volatility, size=len(simulated))
            for sid, d in zip(simulated, steps):
                self.source_log_pop[sid] = (1 - c.reversion) * self.source_log_pop.get(sid, 0.0) + float(d)
        self.catalog.close_idle()

    def all_trends(self) -> list[Trend]:
        """Every topic and listed source, most viewed first."""
        c = self.config
        viewers = np.round(c.base_viewers * np.exp(self.log_pop)).astype(int)
        out = [
            Trend(id=f"synthetic:{i}", title=f"LIVE: {c.topics[i]}", topic=c.topics[i], viewers=int(viewers[i]))
            for i in range(len(c.topics))
        ]
        for s in self.catalog.sources():
            real = s.viewers()
            v = real if real is not None else round(c.base_viewers * float(np.exp(self.source_log_pop.get(s.id, 0.0))))
            title = clean_title(s.title)  # sources clean their titles; this feed is the last gate before agents
            out.append(Trend(id=s.id, title=title, topic=clean_title(s.topic, 100) or title, viewers=int(v)))
        order = np.argsort(-np.array([t.viewers for t in out]), kind="stable")
        return [out[i] for i in order]

    def current(self) -> list[Trend]:
        return self.all_trends()[: self.config.shown]

    def weights(self) -> np.ndarray:
        """Popularity share of every topic of `config.topics` (sums to 1), in config order (v1)."""
        p = np.exp(self.log_pop)
        return p / p.sum()

    def topic_weights(self) -> list[tuple[str, float]]:
        """(topic, share of viewers) over topics and sources together; sources come and go, so embed by name."""
        trends = self.all_trends()
        total = float(sum(t.viewers for t in trends)) or 1.0
        return [(t.topic, t.viewers / total) for t in trends]

    # ------------------------------------------------------------------ frames
    def sample_frames(self, source_id: str, n: int, resolution: int) -> np.ndarray:
        """`n` frames of a listed source as (n, R, R, 3) uint8 (square center crops, resized).

        Synthetic topics render at once; video sources decode in a background reader and raise SourceError
        (a ValueError, one line) within their open+read timeouts when dead. Successive calls give new frames.
        """
        check_sample_args(n, resolution)
        if source_id.startswith("synthetic:") and source_id[10:].isdigit():
            i = int(source_id[10:])
            if i < len(self.scenes):
                with self._clock_lock:
                    t0 = self.scene_clock[i]
                    self.scene_clock[i] += n / SCENE_FPS
                return self.scenes[i].frames(t0, int(n), SCENE_FPS, int(resolution))
        src = self.catalog.get(source_id)
        if src is None:
            raise SourceError(f"unknown trend source {source_id[:80]!r}")
        return src.sample_frames(n, resolution)

    def reference_frames(self, source_id: str, n: int = 8, resolution: int = 32) -> np.ndarray | None:
        """Fixed frames of a built-in scene (times 0..n-1 s; the feed's clock is not advanced), for the
        per-round "distance to each trending scene" metrics; None for video sources, whose frames would cost a
        decode every round and would not replay."""
        if source_id.startswith("synthetic:") and source_id[10:].isdigit() and int(source_id[10:]) < len(self.scenes):
            return self.scenes[int(source_id[10:])].frames(0.0, n, 1.0, resolution)
        return None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Begin refreshing network sources (yt-dlp titles and viewer counts) in the background."""
        self.catalog.start_background_refresh()

    def close(self) -> None:
        self.catalog.close()

    def state_dict(self) -> dict:
        return {
            "log_pop": self.log_pop.tolist(),
            "source_log_pop": dict(self.source_log_pop),
            "scene_clock": list(self.scene_clock),
        }

    def load_state_dict(self, d: dict) -> None:
        self.log_pop = np.asarray(d["log_pop"], dtype=float)
        self.source_log_pop = {str(k): float(v) for k, v in d.get("source_log_pop", {}).items()}
        clock = d.get("scene_clock")
        if clock is not None and len(clock) == len(self.scene_clock):
            self.scene_clock = [float(x) for x in clock]


# v1's name: the feed with no `sources` is exactly v1's synthetic feed.
SyntheticTrendFeed = TrendFeed
