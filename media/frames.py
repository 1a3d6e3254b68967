"""uint8 RGB frame batches: one validation and one planar layout for the per-frame numpy code.

Why a module: the drift guard (media.temporal) and the topic features (media.topic_features) both accept one
frame or a batch, and both reduce over pixels per channel, which is several times faster on contiguous
channel planes (B, 3, H*W) than over the last axis of (B, H*W, 3).
"""

from __future__ import annotations

import numpy as np


def as_frame_batch(frames: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 from a batch or one (H, W, 3) frame; one clear error for anything else."""
    f = np.asarray(frames)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (B, H, W, 3) or (H, W, 3), got {f.dtype} {f.shape}")
    return f


def channel_planes(frames: np.ndarray) -> np.ndarray:
    """The batch as contiguous uint8 channel planes (B, 3, H*W)."""
    f = as_frame_batch(frames)
    return np.ascontiguousarray(f.reshape(f.shape[0], -1, 3).transpose(0, 2, 1))
