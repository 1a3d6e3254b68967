"""Procedural live scenes, one renderer per kind of topic (ocean, city night, forest, nebula, ...).

Why procedural and why these: the default arena has no internet and no video files, yet the base model needs
training data with a caption, finetuning needs "live" frames, and the trend feed needs topics whose look
differs. Each renderer draws a recognisable picture (horizon and breaking waves, a lit skyline with car light
streaks, receding neon rings, ...) from a few vectorised numpy layers, so that simple colour/structure
features tell the scenes apart (media.topic_features) and a tiny model can learn them.

Rules every renderer keeps:
* pure function of (parameters drawn once from the scene's seed, t, resolution): any frame at any time is
  reproducible, in any order, so sources can be sampled from several threads and replays match;
* endless: motion is periodic or wraps (`% 1.0`), and event-like things (firework bursts, window lights)
  are drawn from an integer hash of their epoch, never from a running random state;
* resolution-free: geometry is in normalised [0, 1] coordinates, and small things (stars, drops,
  particles) have a minimum size of about one pixel so that they survive at 16x16;
* cheap: about a millisecond per 64x64 frame (point-like things are separable Gaussian splats, i.e. one
  small matrix product, not a loop over pixels).

The drawing primitives the renderers share (gradients, splats, value noise, the event hash) are in
media.sources.scene_drawing.
"""

from __future__ import annotations

import zlib

import numpy as np

from media.sources.scene_drawing import Array, axis, ihash, mix, smoothstep, splat, value_noise, vgradient


# ---------------------------------------------------------------------------------------------- scenes
class Scene:
    """One kind of scene. Subclasses draw their parameters from `rng` in __init__ and implement render()."""

    kind = "base"
    keywords: tuple[str, ...] = ()

    def __init__(self, rng: np.random.Generator, key: int):
        self.key = key  # the scene's integer seed, for ihash() of per-epoch events

    def render(self, t: float, r: int) -> Array:
        """(r, r, 3) float32 in about 0..255."""
        raise NotImplementedError


class Ocean(Scene):
    kind, keywords = "ocean", ("ocean", "sea", "wave", "surf", "beach", "shore", "tide")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        self.horizon = rng.uniform(0.3, 0.42)
        self.bands = rng.uniform(5.0, 7.0)
        self.speed = rng.uniform(0.12, 0.2)
        self.wobble = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)
        self.sky_top = np.array((70, 125, 195), np.float32) + rng.uniform(-15, 15, 3)

    def render(self, t, r):
        ys = axis(r)
        x, y = ys[None, :], ys[:, None]
        h = self.horizon
        img = vgradient(
            ys, [(0.0, tuple(self.sky_top)), (h, (200, 220, 235)), (h + 1e-3, (15, 60, 105)), (1.0, (25, 110, 160))], r
        )
        d = np.clip((y - h) / (1 - h), 0, 1)
        phase = 2 * np.pi * (self.bands * np.sqrt(d) - self.speed * t)
        phase = phase + 0.7 * np.sin(2 * np.pi * self.wobble[0] * x + self.wobble[1] + 0.8 * t) * np.sqrt(d)
        wave = np.sin(phase)
        sea = y >= h
        img += np.where(sea, wave * (12 + 25 * d), 0.0)[..., None]
        foam = smoothstep(0.7, 0.95, wave + 0.12 * np.sin(23 * x + 3 * y + 1.3 * t)) * smoothstep(0.05, 0.3, d)
        return mix(img, (235, 245, 250), foam * sea)


class CityNight(Scene):
    kind, keywords = "city", ("city", "night", "traffic", "street", "skyline", "urban", "downtown", "car")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        widths = rng.uniform(0.07, 0.18, 14)
        self.edges = np.cumsum(widths) - rng.uniform(0, 0.05)
        self.tops = rng.uniform(0.22, 0.58, 15).astype(np.float32)
        self.shade = rng.uniform(12, 30, 15).astype(np.float32)
        self.road = rng.uniform(0.76, 0.8)
        n = 10
        self.car_x = rng.uniform(0, 1, n)
        self.car_v = rng.uniform(0.15, 0.35, n) * np.where(np.arange(n) % 2 == 0, 1, -1)
        self.car_lane = np.where(np.arange(n) % 2 == 0, 0.35, 0.72)  # within the road, 0 top .. 1 bottom

    def render(self, t, r):
        ys = axis(r)
        x, y = ys[None, :], ys[:, None]
        img = vgradient(ys, [(0.0, (6, 8, 30)), (0.6, (45, 30, 75)), (1.0, (45, 30, 75))], r)
        b = np.searchsorted(self.edges, ys)  # building index per column
        top = self.tops[b][None, :]
        building = (y >= top) & (y < self.road)
        img = np.where(building[..., None], self.shade[b][None, :, None] * np.array([0.9, 0.9, 1.2], np.float32), img)
        col, row = np.floor(x * 40), np.floor(y * 36)
        fx, fy = x * 40 - col, y * 36 - row
        window = (np.abs(fx - 0.5) < 0.3) & (np.abs(fy - 0.5) < 0.28) & building & (y > top + 0.02)
        epoch = np.floor(t / 4.0 + ihash(col.astype(np.int64), row.astype(np.int64), self.key) * 8)
        lit = ihash(col.astype(np.int64), row.astype(np.int64), epoch.astype(np.int64), self.key) < 0.45
        warm = np.where(
            ihash(col.astype(np.int64), self.key + 1)[..., None] < 0.7,
            np.array((255, 205, 110), np.float32),
            np.array((190, 220, 255), np.float32),
        )
        img = np.where((window & lit)[..., None], warm, img)
        road = y >= self.road
        img = np.where(road[..., None], np.array((28, 26, 32), np.float32), img)
        # car light streaks: headlights (white) one way, tail lights (red) the other way
        cx = (self.car_x + self.car_v * t) % 1.2 - 0.1
        cy = self.road + self.car_lane * (1 - self.road)
        colours = np.where((self.car_v > 0)[:, None], np.array((255, 240, 200)), np.array((255, 40, 30)))
        splat(img, ys, cx, cy, 0.06, 0.012, colours.astype(np.float32) * 1.4)
        splat(img, ys, cx, cy, 0.14, 0.03, colours.astype(np.float32) * 0.25)  # glow on the road
        return img


class Forest(Scene):
    kind, keywords = "forest", ("forest", "tree", "wood", "wind", "jungle", "leaves", "pine")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        k = rng.integers(5, 8)
        self.trunk_x = np.sort(rng.uniform(0.05, 0.95, k))
        self.trunk_w = rng.uniform(0.02, 0.045, k)
        self.lattice = rng.uniform(0, 1, (16, 16)).astype(np.float32)
        self.lattice2 = rng.uniform(0, 1, (16, 16)).astype(np.float32)
        self.gust = rng.uniform(0.9, 1.4)

    def render(self, t, r):
        ys = axis(r)
        x, y = np.meshgrid(ys, ys)
        img = vgradient(ys, [(0.0, (170, 205, 140)), (0.6, (70, 110, 60)), (1.0, (35, 55, 25))], r)
        sway = (0.025 * np.sin(self.gust * t + 2.5 * y) + 0.012 * np.sin(2.7 * t + 7 * y)) * (1 - y) ** 2
        trunk = np.zeros_like(x)
        for tx, w in zip(self.trunk_x, self.trunk_w):
            trunk = np.maximum(trunk, 1 - smoothstep(w * 0.6, w, np.abs(x - tx - sway * 0.5)))
        img = mix(img, (75, 48, 28), trunk)
        u = (x + sway * 1.5) * 6
        n = 0.65 * value_noise(self.lattice, u, y * 6) + 0.35 * value_noise(self.lattice2, u * 2.1 + 0.3 * t, y * 12)
        density = smoothstep(0.3, 0.5, n - 0.5 * smoothstep(0.25, 0.7, y))  # canopy thins out downwards
        leaf = mix(
            np.broadcast_to(np.array((25, 80, 30), np.float32), img.shape), (110, 170, 60), smoothstep(0.4, 0.85, n)
        )
        img = mix(img, leaf, density)
        ground = smoothstep(0.86, 0.9, y + 0.02 * np.sin(9 * x))
        return mix(img, (45, 60, 25), ground * (0.7 + 0.3 * n))


class Nebula(Scene):
    kind, keywords = "nebula", ("space", "nebula", "galaxy", "star", "cosmos", "astro", "universe", "milky")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        self.lattices = rng.uniform(0, 1, (3, 12, 12)).astype(np.float32)
        self.drift = rng.uniform(-0.03, 0.03, (3, 2))
        s = 70
        self.sx, self.sy = rng.uniform(0, 1, s), rng.uniform(0, 1, s)
        self.sb = rng.uniform(0.3, 1.0, s) ** 2
        self.sw, self.sp = rng.uniform(1.0, 4.0, s), rng.uniform(0, 2 * np.pi, s)
        self.c1 = np.array((210, 60, 175), np.float32) + rng.uniform(-20, 20, 3)
        self.c2 = np.array((60, 90, 225), np.float32) + rng.uniform(-20, 20, 3)

    def render(self, t, r):
        ys = axis(r)
        x, y = np.meshgrid(ys, ys)
        (d1, d2, d3) = self.drift * t
        n1 = value_noise(self.lattices[0], (x + d1[0]) * 3, (y + d1[1]) * 3)
        n2 = value_noise(self.lattices[1], (x + d2[0]) * 7, (y + d2[1]) * 7)
        n3 = value_noise(self.lattices[2], (x + d3[0]) * 2, (y + d3[1]) * 2)
        density = smoothstep(0.35, 0.85, 0.65 * n1 + 0.35 * n2)
        cloud = mix(np.broadcast_to(self.c1, (r, r, 3)).copy(), self.c2, smoothstep(0.3, 0.7, n3))
        img = np.full((r, r, 3), (5, 3, 14), np.float32) + cloud * density[..., None] * 0.85
        twinkle = self.sb * (0.55 + 0.45 * np.sin(self.sw * t + self.sp))
        splat(img, ys, self.sx, self.sy, 0.004, 0.004, twinkle[:, None] * np.array((255, 245, 255), np.float32))
        return img


class Fireworks(Scene):
    kind, keywords = "fireworks", ("firework", "explosion", "new year", "celebration", "pyro", "sparkler")

    HUES = np.array(
        [
            (255, 60, 60),
            (255, 210, 60),
            (80, 255, 120),
            (90, 150, 255),
            (255, 90, 240),
            (255, 255, 255),
            (255, 140, 40),
        ],
        np.float32,
    )

    def __init__(self, rng, key):
        super().__init__(rng, key)
        self.bursts = 4
        self.period = rng.uniform(2.2, 3.2, self.bursts)
        self.offset = rng.uniform(0, 3, self.bursts)
        p = 22
        ang = np.linspace(0, 2 * np.pi, p, endpoint=False)[None, :] + rng.uniform(0, 0.3, (self.bursts, p))
        self.dirs = np.stack([np.cos(ang), np.sin(ang)], -1) * rng.uniform(0.8, 1.1, (self.bursts, p, 1))
        self.ground = rng.uniform(0.86, 0.92)

    def render(self, t, r):
        ys = axis(r)
        img = vgradient(ys, [(0.0, (4, 4, 18)), (1.0, (25, 18, 45))], r)
        b = np.arange(self.bursts)
        clock = t + self.offset
        epoch = np.floor(clock / self.period).astype(np.int64)
        age = clock - epoch * self.period  # seconds since this burst went off
        cx = 0.2 + 0.6 * ihash(epoch, b, self.key)
        cy = 0.15 + 0.3 * ihash(epoch, b, self.key + 7)
        hue = self.HUES[(ihash(epoch, b, self.key + 3) * len(self.HUES)).astype(int)]
        size = 0.18 + 0.12 * ihash(epoch, b, self.key + 5)
        fade = np.exp(-1.2 * age)
        for lag, amp in ((0.0, 2.2), (0.15, 0.8)):  # particle + its fading trail
            s = (size * (1 - np.exp(-2.5 * np.maximum(age - lag, 0))))[:, None, None]
            pos = np.array([cx, cy]).T[:, None, :] + self.dirs * s
            pos[..., 1] += 0.04 * np.maximum(age - lag, 0)[:, None] ** 2  # gravity
            col = (hue * (fade * amp)[:, None])[:, None, :].repeat(self.dirs.shape[1], 1)
            splat(img, ys, pos[..., 0].ravel(), pos[..., 1].ravel(), 0.011, 0.011, col.reshape(-1, 3))
        flash = np.maximum(0, 1 - age / 0.3)
        splat(img, ys, cx, cy, 0.06, 0.06, hue * flash[:, None] * 1.2)
        ground = ys[:, None] >= self.ground
        return np.where(ground[..., None], np.array((3, 3, 6), np.float32), img)


class DesertSunset(Scene):
    kind, keywords = "desert", ("desert", "sunset", "dune", "sahara", "sand", "dusk", "sunrise")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        self.sun_x = rng.uniform(0.3, 0.7)
        self.layers = [
            (0.55 + 0.12 * i, rng.uniform(0.015, 0.04), rng.uniform(1.0, 2.5), rng.uniform(0, 6.3)) for i in range(3)
        ]
        self.cols = [(190, 110, 60), (165, 90, 45), (120, 62, 32)]

    def render(self, t, r):
        ys = axis(r)
        x, y = ys[None, :], ys[:, None]
        img = vgradient(
            ys, [(0.0, (70, 35, 95)), (0.3, (200, 90, 80)), (0.55, (255, 170, 80)), (1.0, (255, 200, 120))], r
        )
        sun_y = 0.43 + 0.05 * np.sin(2 * np.pi * t / 30)
        d = np.hypot(x - self.sun_x, y - sun_y)
        img = mix(img, (255, 235, 170), 1 - smoothstep(0.075, 0.09, d))
        img += (np.exp(-d / 0.12) * 50)[..., None] * np.array([1.0, 0.6, 0.2], np.float32)
        shimmer = 0.004 * np.sin(40 * y + 6 * t)
        for (base, amp, f, ph), col in zip(self.layers, self.cols):
            xx = x + shimmer + 0.004 * t
            top = base + amp * np.sin(2 * np.pi * f * xx + ph) + 0.5 * amp * np.sin(2 * np.pi * 2.3 * f * xx)
            slope = np.cos(2 * np.pi * f * xx + ph)
            shade = np.array(col, np.float32) * (1 + 0.18 * slope)[..., None]
            img = mix(img, shade, smoothstep(top - 0.008, top + 0.008, y))
        return img


class RainOnGlass(Scene):
    kind, keywords = "rain", ("rain", "glass", "window", "drizzle", "drops")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        n = 9
        self.bx, self.by = rng.uniform(0, 1, n), rng.uniform(0.2, 1, n)
        self.bc = rng.choice([(150, 110, 60), (90, 120, 150), (140, 70, 70), (110, 140, 120)], n).astype(np.float32)
        d = 45
        self.dx, self.dy = rng.uniform(0, 1, d), rng.uniform(0, 1, d)
        self.ds = rng.uniform(0.005, 0.012, d)
        m = 8
        self.rx, self.ry0 = rng.uniform(0, 1, m), rng.uniform(0, 1, m)
        self.rv = rng.uniform(0.12, 0.3, m)

    def render(self, t, r):
        ys = axis(r)
        img = vgradient(ys, [(0.0, (70, 80, 95)), (1.0, (35, 40, 52))], r)
        bx = self.bx + 0.01 * np.sin(0.3 * t + np.arange(len(self.bx)))
        splat(img, ys, bx, self.by, 0.09, 0.09, self.bc * 0.7)  # blurred lights behind the glass
        splat(img, ys, self.dx, self.dy, self.ds, self.ds * 1.2, np.full((len(self.dx), 3), 70, np.float32))
        ry = (self.ry0 + self.rv * t) % 1.2 - 0.1
        splat(img, ys, self.rx, ry, 0.009, 0.012, np.full((len(ry), 3), 110, np.float32))  # running drops
        splat(img, ys, self.rx, ry - 0.07, 0.004, 0.06, np.full((len(ry), 3), 35, np.float32))  # their trails
        grey = img.mean(-1, keepdims=True)
        return grey + (img - grey) * 0.6  # the fogged glass washes colours out


class NeonTunnel(Scene):
    kind, keywords = "neon", ("neon", "tunnel", "synthwave", "cyber", "vaporwave", "laser", "rave")

    def __init__(self, rng, key):
        super().__init__(rng, key)
        self.power = rng.choice([2.0, 6.0])  # round or squarish rings
        self.speed = rng.uniform(0.8, 1.3)
        self.depth = rng.uniform(0.45, 0.6)
        self.c1 = np.array((255, 40, 200), np.float32)
        self.c2 = np.array((40, 235, 255), np.float32)

    def render(self, t, r):
        ys = axis(r)
        x, y = ys[None, :], ys[:, None]
        cx, cy = 0.5 + 0.06 * np.sin(0.5 * t), 0.5 + 0.05 * np.sin(0.37 * t)
        p = self.power
        d = (np.abs(x - cx) ** p + np.abs(y - cy) ** p) ** (1 / p) + 1e-3
        z = self.depth / d + self.speed * t
        ring = np.exp(-(((z % 1.0 - 0.5) / 0.12) ** 2))
        odd = (np.floor(z) % 2)[..., None]
        colour = self.c1 * (1 - odd) + self.c2 * odd
        fog = smoothstep(0.02, 0.12, d)
        img = np.full((r, r, 3), (10, 0, 20), np.float32) + colour * (ring * fog)[..., None]
        img += (np.exp(-d / 0.06) * 60)[..., None] * np.array([0.6, 0.3, 1.0], np.float32)
        return img


class Generic(Scene):
    """Any other topic ("lava lamp"): moving plane and radial waves through a palette hashed from the topic."""

    kind = "generic"

    def __init__(self, rng, key, palette: Array | None = None, waves: int = 4):
        super().__init__(rng, key)
        self.palette = (
            palette if palette is not None else np.array([(20, 20, 20), (120, 120, 120), (240, 240, 240)], np.float32)
        )
        angle = rng.uniform(0, 2 * np.pi, waves)
        freq = rng.uniform(1.0, 4.0, waves)  # cycles per frame width
        self.k = np.stack([np.cos(angle), np.sin(angle)], 1) * freq[:, None] * 2 * np.pi
        self.omega = rng.uniform(0.3, 1.5, waves) * rng.choice([-1, 1], waves)  # rad/s
        self.phase = rng.uniform(0, 2 * np.pi, waves)
        self.center = rng.uniform(0.2, 0.8, 2)
        self.orbit = rng.uniform(0.1, 0.3)
        self.radial_freq = rng.uniform(4.0, 10.0)

    def render(self, t, r):
        ys = axis(r)
        x, y = ys[None, :], ys[:, None]
        v = np.zeros((r, r), np.float32)
        for (kx, ky), w, p in zip(self.k, self.omega, self.phase):
            v += np.sin(kx * x + ky * y + w * t + p)
        cx = self.center[0] + self.orbit * np.cos(0.4 * t)
        cy = self.center[1] + self.orbit * np.sin(0.3 * t)
        v += 1.5 * np.sin(self.radial_freq * np.hypot(x - cx, y - cy) * 2 * np.pi - 2.0 * t)
        u = 0.5 + 0.5 * np.tanh(v / 2.5)
        lo, mid, hi = self.palette
        a = np.clip(u * 2, 0, 1)[..., None]
        b = np.clip(u * 2 - 1, 0, 1)[..., None]
        return lo + (mid - lo) * a + (hi - mid) * b


# Matching order matters: "fireworks" must win over anything else a title mentions ("city fireworks").
SCENE_KINDS: tuple[type[Scene], ...] = (
    Fireworks,
    NeonTunnel,
    Nebula,
    RainOnGlass,
    DesertSunset,
    Ocean,
    CityNight,
    Forest,
)


def scene_class(topic: str) -> type[Scene] | None:
    """The scene kind whose keyword occurs in the topic text, or None for a generic scene."""
    text = topic.lower()
    for cls in SCENE_KINDS:
        if any(k in text for k in cls.keywords):
            return cls
    return None


def topic_key(topic: str, seed: int = 0) -> int:
    """A stable integer from (topic, seed); Python's hash() is salted per process, CRC32 is not."""
    return (zlib.crc32(topic.strip().lower().encode()) * 1_000_003 + int(seed)) % (2**63)
