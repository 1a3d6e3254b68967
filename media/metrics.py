"""Per-stream, per-round image metrics on uint8 RGB frames (numpy only), as the audience model's inputs.

Why these: a viewer perceives a stream's picture (is it colourful, sharp, well exposed, or noise?) and its
motion (does it flicker?). All are no-reference and cheap enough to run on every output frame:

* flicker: VBench temporal flickering score, (255 - mean |f_t - f_t-1|) / 255 (FACTS.md), mean over pairs;
  1 = static, about 0.67 for independent uniform noise.
* ssim: mean SSIM of consecutive grey frames (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5).
* colourfulness: Hasler & Suesstrunk 2003, M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)
  (their scale: 15 slightly, 33 moderately, 45 averagely, 59 quite, 82 highly, 109 extremely colourful).
* sharpness: variance of the 4-neighbour Laplacian of the grey frame (8-bit units; < ~100 reads as blurry).
* brightness: mean grey level in 0..1.
* noise: var(Laplacian) / (20 var(grey)); white noise gives 1 (a 4-neighbour Laplacian multiplies the variance
  of independent pixels by 20), smooth natural images give little. It keeps pure noise from looking "sharp".

Derived scores (both in 0..1, documented here because they feed the audience model):
  quality   = (0.3 min(1, colourfulness/109) + 0.3 (1 - exp(-sharpness/100)) + 0.4 (1 - 2 |brightness - 0.5|))
              * (1 - noise)
  stability = 0.5 max(0, 1 - mean|f_t - f_t-1| / 64) + 0.5 max(0, ssim)
With fewer than two frames the temporal terms are those of a still picture (flicker 1, ssim 1).
"""

from __future__ import annotations

import math

import numpy as np

MAX_SIDE = 128  # larger frames are strided down to about this size first: metrics stay cheap at 512 px


def _gauss_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


_KERNEL = _gauss_kernel()


def _prep(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) frame, got {f.dtype} {f.shape}")
    step = max(1, math.ceil(max(f.shape[:2]) / MAX_SIDE))
    return f[::step, ::step].astype(np.float64)


# Elementwise arithmetic only (no BLAS matmul): BLAS blocking can change the last bits between calls, and a
# season replayed from its seed must see bit-identical metrics.
def _grey(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _filter(img: np.ndarray) -> np.ndarray:
    """Separable 'valid' Gaussian filter; images smaller than the window use a window that fits."""
    k = _KERNEL
    side = min(img.shape)
    if side < k.size:
        k = _gauss_kernel(side if side % 2 else side - 1)
    n = k.size
    rows = img.shape[0] - n + 1
    out = sum(k[i] * img[i : i + rows] for i in range(n))
    cols = img.shape[1] - n + 1
    return sum(k[i] * out[:, i : i + cols] for i in range(n))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two grey images in 0..255 (float arrays of the same shape)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _filter(a), _filter(b)
    saa = _filter(a * a) - mu_a**2
    sbb = _filter(b * b) - mu_b**2
    sab = _filter(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return float(np.mean(num / den))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of an RGB frame in 0..255 units."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def laplacian(grey: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian on the interior pixels."""
    return grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]


def frame_stats(frame: np.ndarray) -> dict[str, float]:
    """Still-picture metrics of one frame (see the module docstring)."""
    rgb = _prep(frame)
    return _still(rgb, _grey(rgb))


def _still(rgb: np.ndarray, grey: np.ndarray) -> dict[str, float]:
    lap = laplacian(grey) if min(grey.shape) >= 3 else np.zeros(1)
    lap_var = float(lap.var())
    grey_var = float(grey.var())
    return {
        "colourfulness": colourfulness(rgb),
        "sharpness": lap_var,
        "brightness": float(grey.mean() / 255.0),
        "noise": min(1.0, lap_var / (20.0 * grey_var)) if grey_var > 1e-9 else 0.0,
    }


def quality_score(colourfulness_: float, sharpness: float, brightness: float, noise: float) -> float:
    colour = min(1.0, colourfulness_ / 109.0)
    sharp = 1.0 - math.exp(-sharpness / 100.0)
    exposure = max(0.0, 1.0 - 2.0 * abs(brightness - 0.5))
    return float(min(1.0, max(0.0, (0.3 * colour + 0.3 * sharp + 0.4 * exposure) * (1.0 - noise))))


def stability_score(mean_abs_diff: float, ssim_mean: float) -> float:
    return float(0.5 * max(0.0, 1.0 - mean_abs_diff / 64.0) + 0.5 * max(0.0, min(1.0, ssim_mean)))


class RoundMetrics:
    """Running metrics of the frames a stream outputs in one round. Keeps only the previous frame and sums."""

    _STILL = ("colourfulness", "sharpness", "brightness", "noise")

    def __init__(self) -> None:
        self._prev_rgb: np.ndarray | None = None
        self._prev_grey: np.ndarray | None = None
        self.reset(keep_previous=False)

    def reset(self, keep_previous: bool = True) -> None:
        """Start a new round; with keep_previous the first pair spans the round boundary (no free pass)."""
        self.frames = 0
        self.pairs = 0
        self._sums = dict.fromkeys(self._STILL, 0.0)
        self._abs_diff = 0.0
        self._ssim = 0.0
        if not keep_previous:
            self._prev_rgb = self._prev_grey = None

    def update(self, frame: np.ndarray) -> None:
        rgb = _prep(frame)
        grey = _grey(rgb)
        for k, v in _still(rgb, grey).items():
            self._sums[k] += v
        self.frames += 1
        prev = self._prev_rgb
        if prev is not None and prev.shape == rgb.shape:
            self._abs_diff += float(np.abs(rgb - prev).mean())
            self._ssim += ssim(grey, self._prev_grey)
            self.pairs += 1
        self._prev_rgb, self._prev_grey = rgb, grey

    def result(self) -> dict[str, float]:
        """The round's metrics; all zero quality (and still-picture stability) when nothing was output."""
        n = max(1, self.frames)
        out = {k: v / n for k, v in self._sums.items()}
        mad = self._abs_diff / self.pairs if self.pairs else 0.0
        ssim_mean = self._ssim / self.pairs if self.pairs else 1.0
        out["flicker"] = (255.0 - mad) / 255.0
        out["ssim"] = ssim_mean
        out["quality"] = (
            quality_score(out["colourfulness"], out["sharpness"], out["brightness"], out["noise"])
            if self.frames
            else 0.0
        )
        out["stability"] = stability_score(mad, ssim_mean)
        out["frames"] = float(self.frames)
        return out

    def state_dict(self) -> dict:
        return {
            "frames": self.frames, "pairs": self.pairs, "sums": dict(self._sums), "abs_diff": self._abs_diff,
            "ssim": self._ssim, "prev": None if self._prev_rgb is None else self._prev_rgb.astype(np.uint8),
        }

    def load_state_dict(self, state: dict) -> None:
        self.frames, self.pairs = int(state["frames"]), int(state["pairs"])
        self._sums = {k: float(v) for k, v in state["sums"].items()}
        self._abs_diff, self._ssim = float(state["abs_diff"]), float(state["ssim"])
        prev = state["prev"]
        self._prev_rgb = None if prev is None else np.asarray(prev, dtype=np.float64)
        self._prev_grey = None if prev is None else _grey(self._prev_rgb)
