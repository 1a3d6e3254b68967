"""Simple colour/structure features of frames, and a nearest-centroid topic classifier on them.

Why: the base model's quality bar, the finetuning test and the per-round "distance to each trending scene"
metric all ask the same question: does this frame look like that scene? A cheap, fixed, hand-made feature
space answers it the same way everywhere (no learned embedding that could drift with the model):

* colour: mean and standard deviation of each RGB channel (6) and a coarse joint hue/value histogram
  (6 hue bins x 3 value bins, plus 1 bin for greys = 19), in 0..1;
* structure: mean absolute horizontal and vertical gradient of the grey image, and the share of gradient
  energy in the coarse (2x down-sampled) vs fine scale (3), roughly in 0..1.

Every group is scaled so that it contributes comparably to Euclidean distances.
"""

from __future__ import annotations

import numpy as np

from media.frames import as_frame_batch, channel_planes

HUE_BINS = 6
VALUE_BINS = 3
FEATURE_DIM = 6 + HUE_BINS * VALUE_BINS + 1 + 3


def frame_features(frames: np.ndarray) -> np.ndarray:
    """Features of each frame: float32 (N, FEATURE_DIM). Accepts (N, H, W, 3) or one (H, W, 3) uint8 frame."""
    u = as_frame_batch(frames)
    n, height, width = u.shape[:3]
    planes = channel_planes(u).astype(np.float32) / 255.0  # (N, 3, H*W): reductions on contiguous memory
    stats = np.concatenate([planes.mean(2), planes.std(2) * 2.0], axis=1)  # std of 0..1 values is <= 0.5

    r, g, b = planes[:, 0], planes[:, 1], planes[:, 2]
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)  # (a reduce over axis -1 is slow)
    chroma = mx - mn
    safe = np.where(chroma > 1e-6, chroma, 1.0)
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    grey = chroma < 0.08
    hbin = np.minimum((hue * HUE_BINS).astype(int), HUE_BINS - 1)
    vbin = np.minimum((mx * VALUE_BINS).astype(int), VALUE_BINS - 1)
    cell = np.where(grey, HUE_BINS * VALUE_BINS, hbin * VALUE_BINS + vbin)
    hist = np.zeros((n, HUE_BINS * VALUE_BINS + 1), np.float32)
    for i in range(n):
        hist[i] = np.bincount(cell[i], minlength=hist.shape[1])
    hist /= planes.shape[2]

    # Elementwise (no BLAS matmul): BLAS blocking can change the last bits between calls, and metrics built on
    # these features must replay bit-exactly from a season's seed.
    grey_img = (0.299 * r + 0.587 * g + 0.114 * b).reshape(n, height, width)
    gx = np.abs(np.diff(grey_img, axis=2)).mean((1, 2))
    gy = np.abs(np.diff(grey_img, axis=1)).mean((1, 2))
    h2, w2 = grey_img.shape[1] // 2 * 2, grey_img.shape[2] // 2 * 2
    q = grey_img[:, :h2, :w2]
    coarse = (q[:, 0::2, 0::2] + q[:, 1::2, 0::2] + q[:, 0::2, 1::2] + q[:, 1::2, 1::2]) * 0.25  # 2x2 block means
    cg = np.abs(np.diff(coarse, axis=2)).mean((1, 2)) + np.abs(np.diff(coarse, axis=1)).mean((1, 2))
    coarse_share = cg / (cg + gx + gy + 1e-6)
    structure = np.stack([gx * 4.0, gy * 4.0, coarse_share], axis=1)
    return np.concatenate([stats, hist, structure], axis=1).astype(np.float32)


class NearestCentroid:
    """Topic classifier: one centroid of features per topic, a frame goes to the closest centroid.

    Distances are measured in units of each feature's pooled within-topic spread (a diagonal-covariance
    nearest-centroid rule, as in diagonal LDA): a feature that varies a lot inside every topic (the
    gradient energy of animated scenes) counts less than one that is steady within a topic and differs
    between topics (its mean colour). The spread is floored at 0.01 so a feature constant in the source
    frames cannot dominate. Fitted on source frames only.
    """

    SPREAD_FLOOR = 0.01

    def __init__(self, labels: list[str], centroids: np.ndarray, scale: np.ndarray | None = None):
        if len(labels) != len(centroids):
            raise ValueError("one centroid per label")
        self.labels = list(labels)
        self.centroids = np.asarray(centroids, np.float32)
        self.scale = np.ones(self.centroids.shape[1], np.float32) if scale is None else np.asarray(scale, np.float32)

    @classmethod
    def fit(cls, frames_by_label: dict[str, np.ndarray]) -> NearestCentroid:
        labels = list(frames_by_label)
        feats = [frame_features(frames_by_label[k]) for k in labels]
        spread = np.sqrt(np.mean([f.var(0) for f in feats], axis=0))
        return cls(labels, np.stack([f.mean(0) for f in feats]), 1.0 / np.maximum(spread, cls.SPREAD_FLOOR))

    def distances(self, frames: np.ndarray) -> np.ndarray:
        """Scaled Euclidean distance of each frame's features to each centroid: (N, n_labels)."""
        x = frame_features(frames) * self.scale
        c = self.centroids * self.scale
        return np.sqrt(((x[:, None, :] - c[None]) ** 2).sum(-1))

    def predict(self, frames: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.distances(frames).argmin(1)]

    def accuracy(self, frames: np.ndarray, labels: list[str]) -> float:
        pred = self.predict(frames)
        return float(np.mean([p == t for p, t in zip(pred, labels)])) if labels else 0.0
