"""A deterministic subsample of the frames a stream outputs in a round: what the audience's eye looks at.

Why a subsample: viewers judge the picture, so the eye must see output frames, but embedding every frame
would cost as much as generating it. A few frames per round, spread over the round, tell what the stream
shows. The choice is a pure function of the stream's output-frame counter (kept across rounds and in the
resume state), so a replayed or resumed season shows the eye the same frames.
"""

from __future__ import annotations

import math

import numpy as np

SAMPLES_PER_SECOND = 0.5  # one frame every 2 s of stream: 3 frames in a 6 s round (arena/configs/default.yaml)
MAX_SAMPLES = 8  # per round, whatever the fps and round length


class FrameSample:
    def __init__(self, per_second: float = SAMPLES_PER_SECOND, max_samples: int = MAX_SAMPLES) -> None:
        self.per_second = per_second
        self.max_samples = max_samples
        self.every = 1
        self.seen = 0  # output frames over the stream's life
        self._frames: list[np.ndarray] = []
        self._last: np.ndarray | None = None

    def set_fps(self, fps: float) -> None:
        self.every = max(1, math.ceil(fps / self.per_second - 1e-9))

    def reset(self) -> None:
        """A new round: nothing sampled yet (the last frame stays, for a round with no sampled frame)."""
        self._frames = []

    def offer(self, frame: np.ndarray) -> None:
        seen, self.seen = self.seen, self.seen + 1
        self._last = frame
        if seen % self.every == 0 and len(self._frames) < self.max_samples:
            self._frames.append(np.array(frame, dtype=np.uint8))

    def frames(self) -> np.ndarray:
        """The round's sampled frames (N, H, W, 3); the latest output frame when none fell in the sample;
        an empty (0, 1, 1, 3) array when the stream has shown nothing yet. Frames of different sizes (a
        resolution change mid-round) keep the latest size only."""
        frames = self._frames or ([np.array(self._last, dtype=np.uint8)] if self._last is not None else [])
        if not frames:
            return np.zeros((0, 1, 1, 3), dtype=np.uint8)
        shape = frames[-1].shape
        return np.stack([f for f in frames if f.shape == shape])
