"""Built-in synthetic live scenes: an animated procedural scene per topic, with a caption.

Why procedural: the default arena has no internet and no video files, yet the base model needs captioned
training frames, finetuning wants "live" frames and the trend feed wants topics whose look depends on the
topic. A topic that names a known kind (media.sources.scenes: ocean, city night, forest, nebula, fireworks,
desert sunset, rain on glass, neon tunnel) gets that scene; any other topic ("lava lamp") gets a generic
wave-field scene in a palette hashed from the topic. Everything derives from (topic, seed), so any frame at
any time and resolution is reproducible.
"""

from __future__ import annotations

import zlib

import numpy as np

try:  # numpy's BLAS spin-waits for its threads on a busy CPU: a 0.1 ms splat product can take 10 ms
    from threadpoolctl import ThreadpoolController

    _BLAS = ThreadpoolController()
except ImportError:  # pragma: no cover - optional; frames are the same, only slower under load
    _BLAS = None

from media.sources.captions import caption_for
from media.sources.scenes import Generic, scene_class, topic_key

# Palettes (dark, mid, bright) by topic keyword for generic scenes; other topics get a hue from the topic's CRC.
_PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "ocean": ((5, 30, 70), (20, 110, 170), (200, 240, 255)),
    "wave": ((5, 30, 70), (20, 110, 170), (200, 240, 255)),
    "rain": ((25, 30, 40), (90, 105, 125), (190, 205, 220)),
    "forest": ((10, 35, 15), (40, 110, 45), (170, 210, 120)),
    "space": ((5, 0, 20), (90, 30, 130), (240, 180, 255)),
    "nebula": ((5, 0, 20), (90, 30, 130), (240, 180, 255)),
    "fire": ((30, 0, 0), (220, 80, 10), (255, 230, 120)),
    "sunset": ((60, 20, 40), (230, 110, 40), (255, 220, 150)),
    "desert": ((90, 55, 25), (210, 160, 90), (255, 235, 190)),
    "neon": ((10, 0, 25), (240, 20, 180), (30, 250, 255)),
    "night": ((5, 5, 20), (40, 40, 90), (255, 210, 90)),
    "city": ((5, 5, 20), (40, 40, 90), (255, 210, 90)),
}


def topic_seed(topic: str, seed: int = 0) -> int:
    """A stable seed from the topic text (Python's hash() is salted per process, CRC32 is not)."""
    return topic_key(topic, seed)


def _hue_palette(h: float) -> tuple[tuple[int, int, int], ...]:
    def rgb(hue: float, s: float, v: float) -> tuple[int, int, int]:
        k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
        c = v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)
        return tuple(int(x) for x in np.round(c * 255))

    return (rgb(h, 0.8, 0.15), rgb((h + 0.08) % 1, 0.7, 0.7), rgb((h + 0.16) % 1, 0.3, 1.0))


def palette_for(topic: str) -> np.ndarray:
    """(3, 3) float32 dark/mid/bright colours for a topic (used by generic scenes)."""
    t = topic.lower()
    for key, pal in _PALETTES.items():
        if key in t:
            return np.asarray(pal, dtype=np.float32)
    return np.asarray(_hue_palette((zlib.crc32(t.encode()) % 360) / 360.0), dtype=np.float32)


class SyntheticScene:
    """An endless animated scene for one topic. `frame(t, resolution)` is a pure function of (topic, seed, t)."""

    def __init__(self, topic: str, seed: int = 0):
        if not isinstance(topic, str) or not topic.strip():
            raise ValueError(f"a synthetic scene needs a non-empty topic, got {topic!r}")
        self.topic = topic
        self.seed = int(seed)
        key = topic_seed(topic, seed)
        rng = np.random.default_rng(key)
        cls = scene_class(topic)
        self.palette = palette_for(topic)
        self._scene = cls(rng, key) if cls is not None else Generic(rng, key, self.palette)
        self.kind = self._scene.kind
        self.caption = caption_for(topic)

    def frame(self, t: float, resolution: int) -> np.ndarray:
        """The frame at time t seconds: (R, R, 3) uint8."""
        r = int(resolution)
        if r < 2:
            raise ValueError(f"resolution must be >= 2, got {resolution}")
        if _BLAS is None:
            img = self._scene.render(float(t), r)
        else:
            with _BLAS.limit(limits=1, user_api="blas"):
                img = self._scene.render(float(t), r)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def frames(self, t0: float, n: int, fps: float, resolution: int) -> np.ndarray:
        """`n` consecutive frames from time `t0` at `fps`: (n, R, R, 3) uint8."""
        if n < 0 or fps <= 0:
            raise ValueError(f"need n >= 0 and fps > 0, got n={n}, fps={fps}")
        if n == 0:
            return np.zeros((0, int(resolution), int(resolution), 3), np.uint8)
        return np.stack([self.frame(t0 + i / fps, resolution) for i in range(n)])
