"""Frame shaping shared by all sources: RGB uint8, center-cropped to a square, resized to R x R.

Why square center crops: the generator and finetuning work on square frames; a crop keeps the subject's
proportions where a plain resize would squash a 16:9 stream.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_square(frame: np.ndarray, resolution: int) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 frame, got shape {frame.shape}")
    h, w = frame.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = np.ascontiguousarray(frame[y : y + s, x : x + s], dtype=np.uint8)
    if s == resolution:
        return crop.copy()
    return np.asarray(Image.fromarray(crop).resize((resolution, resolution), Image.BILINEAR, reducing_gap=2.0))


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """A decode size no larger than `max_side` (even numbers, aspect kept): sampling never needs 1080p."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
