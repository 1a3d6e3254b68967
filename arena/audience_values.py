"""The values that cross the audience's seam: what a viewer perceives of a stream (`StreamView`, built by
`arena.round.stream_views`), what a round of watching produced (`RoundAudience`), and the per-term
attribution of utility (why viewers came or left), kept apart from the population's mechanics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The utility terms recorded per stream and round (mean contribution per choosing viewer, in utils).
TERMS = (
    "bias",
    "topic",
    "trend",
    "detail",
    "speckle",
    "smoothness",
    "stability",
    "novelty",
    "chat",
    "voice",
    "boredom",
    "new",
    "social",
    "stall",
    "startup",
    "inertia",
)


@dataclass
class StreamView:
    """What a viewer can perceive of one stream during a round (built by the arena from its output frames).

    `startup_delay` is the engine's (media.buffer.StreamBuffer.startup_delay): seconds from the stream's start
    until its first frame. None means no frame yet: a viewer who picks it waits indefinitely.
    """

    stream_id: str
    content_embedding: np.ndarray  # the eye's embedding of the round's output frames, L2-normalised
    stall_seconds_per_tick: list[float]  # per audience tick, padded with 0 / truncated to the round's ticks
    startup_delay: float | None
    detail: float = 0.5  # 0..1, media.perception.detail
    speckle: float = 0.0  # 0..1, media.perception.speckle
    smoothness: float = 0.5  # 0..1, media.perception.smoothness
    stability: float = 0.5  # 0..1, media.frame_metrics.stability_score
    motion: float = 0.5  # 0..1, media.perception.motion
    novelty: float = 0.0  # 0..1, visual distance to the nearest rival
    topic: str = ""  # the audience topic nearest to content_embedding (Audience.topic_of), for the streamer
    chat_answered: float = 0.0  # 0..1, how much of its shown chat the streamer answered (arena.chat_room)
    commentary: float = 0.0  # 0..1, share of the round its voice was heard (arena.voices, media.voice.timeline)
    speech_spam: float = 0.0  # 0..1, lines refused by the speech budget (too many, too long, said again), /3

    @property
    def perceived_quality(self) -> float:
        """What a watched second is worth to a viewer (the RecSim refund), 0..1."""
        return float(np.clip(0.5 * self.detail + 0.5 * self.smoothness - 0.5 * self.speckle, 0.0, 1.0))


@dataclass
class RoundAudience:
    """Result of one round. `ern[id]` = {"mean", "peak", "series"} of viewers watching per tick; `terms[id]`
    = mean utility contribution of each term per viewer who considered the stream (see TERMS)."""

    ern: dict[str, dict]
    online_mean: float
    outside_mean: float
    online_series: list[int] = field(default_factory=list)
    outside_series: list[int] = field(default_factory=list)  # browsing (online, watching nothing)
    offline_series: list[int] = field(default_factory=list)
    joins: dict[str, int] = field(default_factory=dict)  # viewers who switched into the stream
    abandoned: dict[str, int] = field(default_factory=dict)  # of those, gone during start-up
    terms: dict[str, dict[str, float]] = field(default_factory=dict)
    appeal: float = 0.0  # the lobby's appeal at the end of the round (word of mouth)


class Attribution:
    """Sums of each term's contribution over the viewers who considered each stream, over a round's ticks."""

    def __init__(self, s: int) -> None:
        self.sums = {t: np.zeros(s) for t in TERMS}
        self.n = 0

    def add(self, n_choosers: int, per_stream: dict[str, np.ndarray], per_viewer_sums: dict[str, np.ndarray]) -> None:
        self.n += n_choosers
        for t, v in per_stream.items():
            self.sums[t] += n_choosers * v
        for t, v in per_viewer_sums.items():
            self.sums[t] += v

    def result(self, ids: list[str]) -> dict[str, dict[str, float]]:
        n = max(1, self.n)
        return {sid: {t: round(float(self.sums[t][j] / n), 4) for t in TERMS} for j, sid in enumerate(ids)}
