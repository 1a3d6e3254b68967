"""What a viewer perceives of a stream's picture, measured on its output frames at display size.

Why at display size: a viewer watches a tile of fixed size (a player scales every stream to it), so a 64 px
stream is magnified 4x and looks soft where a 128 px one still shows structure; more denoising steps give
finer, less blurry structure at any size. The measures below are what the audience's quality terms read
(`arena.audience`); each maps to 0..1 with diminishing returns, so more is better but never unboundedly.

- detail: mid-band (difference-of-Gaussians, sigma 1 vs 3 display pixels) contrast of the grey picture at
  display size, relative to `DETAIL_REF` (about the level of the built-in scenes at 128 px). Brightness does
  not enter: a dark night scene with structure is as detailed as a bright one.
- speckle: pixel-scale chroma noise at the stream's own resolution (each pixel's chroma against its 3x3
  neighbourhood median), relative to `SPECKLE_REF`: colour confetti that a viewer sees as noise.
- motion: mean absolute frame-to-frame change (from the engine's metrics), relative to `MOTION_REF`; a
  picture that stops changing bores viewers (the audience accumulates that over time).
- smoothness: output frame rate with diminishing returns, 1 - exp(-fps / SMOOTH_FPS): 4 fps reads as a
  slideshow (0.39), 12 fps as fairly fluid (0.78), 24 fps as smooth (0.95).

The reference constants are modelling choices calibrated on the project's own frames
(`bench/perception.py` prints the measures for scenes and generated frames at 64/128 px and 1/4 steps).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, median_filter

DISPLAY = 256  # display tile edge in pixels
DETAIL_REF = 6.0  # mid-band mean absolute contrast (0..255 grey levels) that counts as full detail
SPECKLE_REF = 12.0  # mean absolute chroma deviation from the 3x3 median (grey levels) that counts as full noise
MOTION_REF = 6.0  # mean absolute frame difference (grey levels per pixel) that counts as a lively picture
SMOOTH_FPS = 8.0  # frame rate scale of the smoothness curve


def _grey_at_display(frame: np.ndarray) -> np.ndarray:
    img = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("L")
    if img.size != (DISPLAY, DISPLAY):
        img = img.resize((DISPLAY, DISPLAY), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def detail(frames: np.ndarray) -> float:
    """Mid-band contrast at display size, 0..1 (1 - exp(-x / DETAIL_REF)); 0 for no frames."""
    if len(frames) == 0:
        return 0.0
    levels = []
    for f in frames:
        g = _grey_at_display(f)
        band = gaussian_filter(g, 1.0) - gaussian_filter(g, 3.0)
        levels.append(float(np.abs(band).mean()))
    return float(1.0 - math.exp(-float(np.mean(levels)) / DETAIL_REF))


def speckle(frames: np.ndarray) -> float:
    """Pixel-scale chroma noise at the stream's resolution, 0..1 (saturating at SPECKLE_REF)."""
    if len(frames) == 0:
        return 0.0
    levels = []
    for f in np.asarray(frames, dtype=np.float32):
        chroma = f - f.mean(axis=2, keepdims=True)  # colour without brightness
        med = median_filter(chroma, size=(3, 3, 1))
        levels.append(float(np.abs(chroma - med).mean()))
    return float(min(1.0, np.mean(levels) / SPECKLE_REF))


def motion(mean_abs_diff: float) -> float:
    """How lively the picture is, 0..1, from the mean absolute frame difference (0..255 per pixel)."""
    return float(1.0 - math.exp(-max(0.0, mean_abs_diff) / MOTION_REF))


def smoothness(fps: float) -> float:
    """Output frame rate with diminishing returns, 0..1."""
    return float(1.0 - math.exp(-max(0.0, fps) / SMOOTH_FPS))
