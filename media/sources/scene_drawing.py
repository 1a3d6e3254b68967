"""Vectorised numpy drawing primitives shared by the procedural scenes of media.sources.scenes.

Why apart: they are the part of the renderers' rules that is geometry, not content (normalised [0, 1]
coordinates, separable Gaussian splats floored at about a pixel, periodic value noise, a stateless integer hash
for per-epoch events), so a new scene kind reuses them without reading the catalogue of scenes.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def axis(r: int) -> Array:
    """Pixel centres of an r-pixel axis in [0, 1]."""
    return (np.arange(r, dtype=np.float32) + 0.5) / r


def smoothstep(e0: float, e1: float, x: Array) -> Array:
    u = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def mix(a: Array, b: Array, w: Array) -> Array:
    """Blend colour images/constants a -> b with weight w ((H, W) or scalar)."""
    w = np.asarray(w, np.float32)
    if w.ndim == 2:
        w = w[..., None]
    return a + (np.asarray(b, np.float32) - a) * w


def vgradient(ys: Array, stops: list[tuple[float, tuple[int, int, int]]], width: int) -> Array:
    """A vertical colour gradient through (position, colour) stops: (H, W, 3) float32."""
    pos = np.array([p for p, _ in stops], np.float32)
    cols = np.array([c for _, c in stops], np.float32)
    col = np.stack([np.interp(ys, pos, cols[:, k]) for k in range(3)], -1).astype(np.float32)
    return np.broadcast_to(col[:, None, :], (len(ys), width, 3)).copy()


def splat(img: Array, xs: Array, cx: Array, cy: Array, sx: Array, sy: Array, colours: Array) -> None:
    """Add axis-aligned Gaussian blobs (centres cx, cy; sigmas sx, sy; RGB `colours` incl. brightness) to img.

    Separable: blob_p(y, x) = wy_p(y) * wx_p(x), so the sum over P blobs is one (H*3, P) @ (P, W) product.
    Sigmas are floored at 0.6 pixel so points never fall between pixel centres and vanish.
    """
    r = len(xs)
    if len(cx) == 0:
        return
    floor = 0.6 / r
    sx = np.maximum(np.broadcast_to(sx, cx.shape), floor)[:, None]
    sy = np.maximum(np.broadcast_to(sy, cx.shape), floor)[:, None]
    wx = np.exp(-0.5 * ((xs[None, :] - cx[:, None]) / sx) ** 2)  # (P, W)
    wy = np.exp(-0.5 * ((xs[None, :] - cy[:, None]) / sy) ** 2)  # (P, H)
    a = (wy[:, :, None] * colours[:, None, :]).reshape(len(cx), -1)  # (P, H*3)
    img += (a.T @ wx).reshape(r, 3, r).transpose(0, 2, 1)


def value_noise(lattice: Array, u: Array, v: Array) -> Array:
    """Smooth periodic noise in [0, 1]: bilinear (smoothstep) interpolation of a random lattice at (u, v)."""
    n = lattice.shape[0]
    i0, j0 = np.floor(u), np.floor(v)
    fu, fv = u - i0, v - j0
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    i0, j0 = i0.astype(np.int64) % n, j0.astype(np.int64) % n
    i1, j1 = (i0 + 1) % n, (j0 + 1) % n
    top = lattice[j0, i0] * (1 - fu) + lattice[j0, i1] * fu
    bot = lattice[j1, i0] * (1 - fu) + lattice[j1, i1] * fu
    return top * (1 - fv) + bot * fv


def ihash(*keys: Array | int) -> Array:
    """A deterministic integer hash of integer arrays -> uniform floats in [0, 1) (for per-epoch events)."""
    h = np.uint64(0x9E3779B97F4A7C15)
    for k in keys:
        h = (np.asarray(k).astype(np.uint64) + h) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    h = h * np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
