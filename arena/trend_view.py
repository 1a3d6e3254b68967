"""What the trends look like to the audience's eye: one embedding per trend, from its frames and its title.

Why both: a built-in scene or a configured source is a picture first (its frames go through the eye, as a
stream's do), and its title names it; averaging the two puts every trend in the space where viewers'
interests and streams' pictures live, so a stream that shows a trending scene aligns with it, whatever its
prompt says. Each trend's embedding is computed once per season (a video source is decoded once).
"""

from __future__ import annotations

import logging

import numpy as np

from media.eye import Eye
from media.trends import TrendFeed

log = logging.getLogger("arena")

TREND_FRAMES = 8  # frames of a trend's scene or source the eye averages
TREND_RESOLUTION = 64


class TrendView:
    def __init__(self, eye: Eye, trends: TrendFeed, audience_topics: list[str]) -> None:
        self.eye = eye
        self.trends = trends
        self.audience_topics = list(audience_topics)
        self._cache: dict[str, np.ndarray] = {}

    def embedding_of(self, trend_id: str, title: str) -> np.ndarray:
        if trend_id not in self._cache:
            text = self.eye.embed_texts([title])[0]
            frames = self._frames(trend_id)
            v = text if frames is None else text + self.eye.embed_frames(frames).mean(axis=0)
            self._cache[trend_id] = (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)
        return self._cache[trend_id]

    def _frames(self, trend_id: str) -> np.ndarray | None:
        frames = self.trends.reference_frames(trend_id, TREND_FRAMES, TREND_RESOLUTION)
        if frames is not None:
            return frames
        try:  # a configured source: a few live frames, once per season
            return self.trends.sample_frames(trend_id, TREND_FRAMES, TREND_RESOLUTION)
        except (ValueError, KeyError, RuntimeError) as exc:  # a dead source is seen by its title alone
            log.info("trend %s: no frames for the eye (%s)", trend_id, exc)
            return None

    def embedding(self) -> np.ndarray:
        """Popularity-weighted mean of every trend's embedding (topics and sources), normalised."""
        trends = self.trends.all_trends()
        total = float(sum(t.viewers for t in trends)) or 1.0
        v = sum((t.viewers / total) * self.embedding_of(t.id, t.topic) for t in trends)
        return (np.asarray(v) / (np.linalg.norm(v) + 1e-9)).astype(np.float32)

    def topic_popularity(self) -> np.ndarray:
        """Popularity share of each audience topic among the trends (0 for topics nobody trends)."""
        share = dict.fromkeys(self.audience_topics, 0.0)
        for topic, w in self.trends.topic_weights():
            if topic in share:
                share[topic] += w
        return np.array([share[t] for t in self.audience_topics], dtype=np.float32)
