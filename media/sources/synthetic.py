"""Built-in synthetic live scenes: a procedural animated frame generator per topic.

Why procedural: the default arena has no internet and no video files, yet finetuning and the trend feed want
"live" frames whose look depends on the topic. Each scene is a few moving colour fields (plane and radial
waves) mapped through a topic palette; everything derives from (topic, seed), so any frame at any time and
resolution is reproducible. Another engineer may replace this with richer scenes behind the same API.
"""

from __future__ import annotations

import zlib

import numpy as np

# Palettes (dark, mid, bright) by topic keyword; other topics get a hue from the topic's CRC.
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
    return (zlib.crc32(topic.strip().lower().encode()) * 1_000_003 + int(seed)) % (2**63)


def _hue_palette(h: float) -> tuple[tuple[int, int, int], ...]:
    def rgb(hue: float, s: float, v: float) -> tuple[int, int, int]:
        k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
        c = v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)
        return tuple(int(x) for x in np.round(c * 255))

    return (rgb(h, 0.8, 0.15), rgb((h + 0.08) % 1, 0.7, 0.7), rgb((h + 0.16) % 1, 0.3, 1.0))


def palette_for(topic: str) -> np.ndarray:
    t = topic.lower()
    for key, pal in _PALETTES.items():
        if key in t:
            return np.asarray(pal, dtype=np.float32)
    return np.asarray(_hue_palette((zlib.crc32(t.encode()) % 360) / 360.0), dtype=np.float32)


class SyntheticScene:
    """An endless animated scene for one topic. `frame(t, resolution)` is a pure function of (topic, seed, t)."""

    def __init__(self, topic: str, seed: int = 0, waves: int = 4):
        self.topic = topic
        rng = np.random.default_rng(topic_seed(topic, seed))
        self.palette = palette_for(topic)
        angle = rng.uniform(0, 2 * np.pi, waves)
        freq = rng.uniform(1.0, 4.0, waves)  # cycles per frame width
        self.k = np.stack([np.cos(angle), np.sin(angle)], 1) * freq[:, None] * 2 * np.pi
        self.omega = rng.uniform(0.3, 1.5, waves) * rng.choice([-1, 1], waves)  # rad/s
        self.phase = rng.uniform(0, 2 * np.pi, waves)
        self.center = rng.uniform(0.2, 0.8, 2)
        self.orbit = rng.uniform(0.1, 0.3)
        self.radial_freq = rng.uniform(4.0, 10.0)

    def frame(self, t: float, resolution: int) -> np.ndarray:
        r = int(resolution)
        if r < 2:
            raise ValueError(f"resolution must be >= 2, got {resolution}")
        xs = (np.arange(r, dtype=np.float32) + 0.5) / r
        x, y = np.meshgrid(xs, xs)
        v = np.zeros((r, r), np.float32)
        for (kx, ky), w, p in zip(self.k, self.omega, self.phase):
            v += np.sin(kx * x + ky * y + w * t + p)
        cx = self.center[0] + self.orbit * np.cos(0.4 * t)
        cy = self.center[1] + self.orbit * np.sin(0.3 * t)
        v += 1.5 * np.sin(self.radial_freq * np.hypot(x - cx, y - cy) * 2 * np.pi - 2.0 * t)
        u = 0.5 + 0.5 * np.tanh(v / 2.5)  # 0..1, soft contrast
        lo, mid, hi = self.palette
        a = np.clip(u * 2, 0, 1)[..., None]
        b = np.clip(u * 2 - 1, 0, 1)[..., None]
        rgb = lo + (mid - lo) * a + (hi - mid) * b
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)

    def frames(self, t0: float, n: int, fps: float, resolution: int) -> np.ndarray:
        """`n` consecutive frames from time `t0` at `fps`: (n, R, R, 3) uint8."""
        return np.stack([self.frame(t0 + i / fps, resolution) for i in range(n)]) if n else \
            np.zeros((0, resolution, resolution, 3), np.uint8)
