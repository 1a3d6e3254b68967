"""Image metrics of one uint8 RGB frame or one pair of consecutive frames (numpy only): the per-frame work of
media.metrics' round metrics, apart so that the exact float32 arithmetic they must replay bit for bit sits in
one place.

* ssim: mean SSIM of consecutive grey frames (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5, 'valid'
  region, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2), at the frame's own resolution up to MAX_SIDE (Wang's
  ssim.m would only downsample from about 384 px on: factor max(1, round(min(H, W) / 256))). Computed in
  float32 with four filtered maps instead of five (the denominator needs only the sum of the two local
  variances, as in Turcotte & Robidoux's refactor of ssim.m); it agrees with the float64 five-map form to
  ~1e-6.
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
_KERNELS32: dict[int, np.ndarray] = {}  # window size -> the float32 window (small images use a smaller one)


def _kernel32(side: int) -> np.ndarray:
    size = _KERNEL.size if side >= _KERNEL.size else (side if side % 2 else side - 1)
    k = _KERNELS32.get(size)
    if k is None:
        k = _KERNELS32[size] = (_KERNEL if size == _KERNEL.size else _gauss_kernel(size)).astype(np.float32)
    return k


# Per-frame arithmetic is float32 on contiguous channel planes (3, H, W); sums accumulate in float64. The
# metrics agree with a float64 computation to ~1e-6 relative (tests/media/test_metrics.py). Elementwise
# arithmetic and numpy reductions in a fixed order only (no BLAS matmul): BLAS blocking can change the last
# bits between calls, and a season replayed from its seed must see bit-identical metrics.
def check_frame(frame: np.ndarray) -> np.ndarray:
    """The frame, validated and strided down to at most about MAX_SIDE pixels a side (a uint8 view)."""
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) frame, got {f.dtype} {f.shape}")
    step = max(1, math.ceil(max(f.shape[:2]) / MAX_SIDE))
    return f[::step, ::step] if step > 1 else f


def to_planes(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB (any dtype, 0..255) as contiguous float32 channel planes (3, H, W): every per-channel
    operation then runs on contiguous memory."""
    return np.ascontiguousarray(np.asarray(rgb).transpose(2, 0, 1)).astype(np.float32, copy=False)


def to_grey(planes: np.ndarray) -> np.ndarray:
    r, g, b = planes
    grey = r * 0.299
    grey += g * 0.587
    grey += b * 0.114
    return grey


def _filter(stack: np.ndarray) -> np.ndarray:
    """Separable 'valid' Gaussian filter of each image of a C-contiguous float32 stack (..., H, W), all in
    one pass; images smaller than the window use a window that fits.

    Each pass runs on the flattened stack, so every step is one contiguous 1-d operation: the vertical pass
    shifts by whole rows (W), the horizontal one by single pixels; outputs whose window would cross an
    image's bottom or right edge are junk and cut off at the end. The window is symmetric, so tap pairs are
    added first: k_i (x_i + x_(n-1-i)). Fixed order of operations: the same input gives the same bits.
    """
    k = _kernel32(min(stack.shape[-2:]))
    n, h = k.size, k.size // 2
    *lead, height, width = stack.shape
    x = stack.reshape(-1)
    size = x.size
    span = size - (n - 1) * width  # vertical pass: flat output j = sum_i k_i x[j + i W]
    vert = np.empty(size, dtype=np.float32)  # the stack's size, so the result reshapes; the tail is unused
    v = vert[:span]
    np.multiply(x[h * width : h * width + span], k[h], out=v)
    tmp = np.empty(span, dtype=np.float32)
    for i in range(h):
        j = n - 1 - i
        np.add(x[i * width : i * width + span], x[j * width : j * width + span], out=tmp)
        tmp *= k[i]
        v += tmp
    span2 = span - (n - 1)  # horizontal pass: flat output j = sum_i k_i v[j + i]
    out = np.empty(size, dtype=np.float32)
    o, tmp = out[:span2], tmp[:span2]
    np.multiply(v[h : h + span2], k[h], out=o)
    for i in range(h):
        np.add(v[i : i + span2], v[n - 1 - i : n - 1 - i + span2], out=tmp)
        tmp *= k[i]
        o += tmp
    return out.reshape(*lead, height, width)[..., : height - n + 1, : width - n + 1]


_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def ssim32(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two float32 grey images. The denominator only needs the sum of the two local variances,
    so four maps are filtered, as one (4, H, W) stack: a, b, a^2 + b^2, a b."""
    s = np.empty((4, *a.shape), dtype=np.float32)
    s[0], s[1] = a, b
    np.multiply(a, a, out=s[2])
    s[2] += b * b
    np.multiply(a, b, out=s[3])
    mu_a, mu_b, e_sq, e_ab = _filter(s)
    mu_ab = mu_a * mu_b
    mu_sq = mu_a * mu_a
    mu_sq += mu_b * mu_b
    e_ab -= mu_ab  # covariance
    e_sq -= mu_sq  # sum of the variances
    mu_ab *= 2
    mu_ab += _C1
    e_ab *= 2
    e_ab += _C2
    mu_ab *= e_ab  # numerator
    mu_sq += _C1
    e_sq += _C2
    mu_sq *= e_sq  # denominator
    mu_ab /= mu_sq
    return float(np.add.reduce(mu_ab, axis=None, dtype=np.float64)) / mu_ab.size


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two grey images in 0..255 (float arrays of the same shape), computed in float32."""
    return ssim32(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of an RGB frame (H, W, 3) in 0..255 units."""
    p = to_planes(rgb)
    return still_metrics(p, to_grey(p))["colourfulness"]


def laplacian(grey: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian on the interior pixels."""
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1]
    lap += grey[1:-1, :-2]
    lap += grey[1:-1, 2:]
    lap -= grey[1:-1, 1:-1] * 4
    return lap


def frame_stats(frame: np.ndarray) -> dict[str, float]:
    """Still-picture metrics of one frame (see the module docstring)."""
    p = to_planes(check_frame(frame))
    return still_metrics(p, to_grey(p))


def still_metrics(planes: np.ndarray, grey: np.ndarray) -> dict[str, float]:
    """Colourfulness, sharpness, brightness and noise from the frame's float32 planes and grey image: the
    means and variances of rg, yb and grey come from one (3, N) reduction each (two-pass variance)."""
    r, g, b = planes
    n = grey.size
    m = np.empty((3, n), dtype=np.float32)
    rg, yb = m[0].reshape(grey.shape), m[1].reshape(grey.shape)
    np.subtract(r, g, out=rg)
    np.add(r, g, out=yb)
    yb *= 0.5
    yb -= b
    m[2] = grey.reshape(-1)
    mean = np.add.reduce(m, axis=1, dtype=np.float64) / n
    m -= mean.astype(np.float32)[:, None]
    m *= m
    var = np.add.reduce(m, axis=1, dtype=np.float64) / n
    mean_rg, mean_yb, mean_grey = mean.tolist()
    var_rg, var_yb, grey_var = var.tolist()
    if min(grey.shape) >= 3:
        lap = laplacian(grey)
        lap -= np.float32(float(np.add.reduce(lap, axis=None, dtype=np.float64)) / lap.size)
        lap *= lap
        lap_var = float(np.add.reduce(lap, axis=None, dtype=np.float64)) / lap.size
    else:
        lap_var = 0.0
    return {
        "colourfulness": math.hypot(math.sqrt(var_rg), math.sqrt(var_yb)) + 0.3 * math.hypot(mean_rg, mean_yb),
        "sharpness": lap_var,
        "brightness": mean_grey / 255.0,
        "noise": min(1.0, lap_var / (20.0 * grey_var)) if grey_var > 1e-9 else 0.0,
    }


def quality_score(colourfulness_: float, sharpness: float, brightness: float, noise: float) -> float:
    colour = min(1.0, colourfulness_ / 109.0)
    sharp = 1.0 - math.exp(-sharpness / 100.0)
    exposure = max(0.0, 1.0 - 2.0 * abs(brightness - 0.5))
    return float(min(1.0, max(0.0, (0.3 * colour + 0.3 * sharp + 0.4 * exposure) * (1.0 - noise))))


def stability_score(mean_abs_diff: float, ssim_mean: float) -> float:
    return float(0.5 * max(0.0, 1.0 - mean_abs_diff / 64.0) + 0.5 * max(0.0, min(1.0, ssim_mean)))
