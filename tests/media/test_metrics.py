"""Image metrics on hand-made frames whose values can be computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from media.metrics import RoundMetrics, colourfulness, frame_stats, ssim


def const(rgb: tuple[int, int, int], size: int = 32) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (size, size, 3)).copy()


def gradient(shift: int = 0, size: int = 64) -> np.ndarray:
    x = np.linspace(0, 255, size)
    r, g = np.meshgrid(x, x)
    img = np.stack([r, g, np.full_like(r, 128.0)], axis=-1).astype(np.uint8)
    return np.roll(img, shift, axis=1)


def noise(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_vbench_flicker_by_hand() -> None:
    m = RoundMetrics()
    for v in (100, 150, 100):  # |diff| = 50 on every pixel, twice
        m.update(const((v, v, v)))
    assert m.result()["flicker"] == pytest.approx((255 - 50) / 255)
    still = RoundMetrics()
    for _ in range(3):
        still.update(gradient())
    r = still.result()
    assert r["flicker"] == 1.0 and r["ssim"] == pytest.approx(1.0) and r["stability"] == pytest.approx(1.0)


def test_ssim() -> None:
    rng = np.random.default_rng(1)
    a = gradient().astype(float).mean(-1)
    b = rng.integers(0, 256, a.shape).astype(float)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert ssim(a, b) < 0.2
    assert ssim(a, np.roll(a, 1, axis=1)) > 0.8  # a small move keeps most structure


def test_colourfulness_by_hand() -> None:
    assert colourfulness(const((90, 90, 90)).astype(float)) == pytest.approx(0.0)
    # pure red: rg = 255, yb = 127.5 everywhere, no spread -> 0.3 * hypot(255, 127.5)
    assert colourfulness(const((255, 0, 0)).astype(float)) == pytest.approx(0.3 * math.hypot(255, 127.5))
    assert frame_stats(gradient())["colourfulness"] > frame_stats(const((120, 110, 100)))["colourfulness"]


def test_sharpness_brightness_and_noise() -> None:
    checker = np.indices((32, 32)).sum(0) % 2 * 255
    checker = np.repeat(checker[..., None], 3, axis=-1).astype(np.uint8)
    flat = const((51, 51, 51))
    assert frame_stats(flat)["sharpness"] == 0.0
    assert frame_stats(flat)["brightness"] == pytest.approx(0.2)
    # a checkerboard's Laplacian is +-1020 everywhere
    assert frame_stats(checker)["sharpness"] == pytest.approx(1020.0**2)
    assert frame_stats(noise(np.random.default_rng(0)))["noise"] > 0.9
    assert frame_stats(gradient())["noise"] < 0.05


def test_quality_prefers_a_clean_colourful_picture_to_noise_and_flat_grey() -> None:
    rng = np.random.default_rng(2)

    def quality(frames: list[np.ndarray]) -> float:
        m = RoundMetrics()
        for f in frames:
            m.update(f)
        return m.result()["quality"]

    clean = quality([gradient(i) for i in range(4)])
    assert clean > quality([noise(rng) for _ in range(4)]) + 0.5
    assert clean > quality([const((128, 128, 128))] * 4) + 0.2
    assert quality([const((0, 0, 0))] * 4) < 0.05  # black: no colour, no detail, no exposure
    assert 0.0 <= clean <= 1.0


def test_stability_orders_static_moving_and_noise() -> None:
    rng = np.random.default_rng(3)
    results = {}
    for name, frames in {
        "static": [gradient()] * 5,
        "moving": [gradient(2 * i) for i in range(5)],
        "noise": [noise(rng) for _ in range(5)],
    }.items():
        m = RoundMetrics()
        for f in frames:
            m.update(f)
        results[name] = m.result()["stability"]
    assert results["static"] > results["moving"] > results["noise"]
    assert results["noise"] < 0.1 and results["moving"] > 0.5


def test_round_reset_keeps_the_boundary_pair_and_memory_is_bounded() -> None:
    m = RoundMetrics()
    m.update(const((0, 0, 0)))
    m.reset(keep_previous=True)
    m.update(const((255, 255, 255)))
    r = m.result()
    assert r["frames"] == 1 and r["flicker"] == 0.0  # the jump across the round boundary is counted
    rng = np.random.default_rng(4)
    for _ in range(300):
        m.update(noise(rng, 32))
    arrays = [v for v in vars(m).values() if isinstance(v, np.ndarray)]
    assert sum(a.nbytes for a in arrays) <= 2 * 32 * 32 * 3 * 8  # previous frame (rgb + grey) only
    assert all(not isinstance(v, list) for v in vars(m).values())


def test_empty_round_and_bad_input() -> None:
    r = RoundMetrics().result()
    assert r["frames"] == 0 and r["quality"] == 0.0
    with pytest.raises(ValueError, match="uint8"):
        RoundMetrics().update(np.zeros((8, 8, 3), dtype=np.float32))


def test_large_frames_are_strided_down() -> None:
    big = np.kron(gradient(size=64), np.ones((8, 8, 1), dtype=np.uint8))  # 512 x 512
    stats = frame_stats(big)
    assert stats["brightness"] == pytest.approx(frame_stats(gradient(size=64))["brightness"], abs=0.02)


# ------------------------------------------------------------------------- content over time (features)
from media.metrics import DRIFT_WINDOW, centroids_from_frames, check_references  # noqa: E402
from media.topic_features import frame_features  # noqa: E402


def test_novelty_compares_a_round_to_the_previous_one() -> None:
    m = RoundMetrics()
    for _ in range(3):
        m.update(gradient())
    assert m.result()["novelty"] == 0.0  # a stream's first round has nothing to compare to
    m.reset()
    for _ in range(3):
        m.update(gradient())
    assert m.result()["novelty"] == pytest.approx(0.0, abs=1e-9)  # the same picture again
    m.reset()
    red = const((220, 30, 30), 64)
    for _ in range(3):
        m.update(red)
    expected = np.linalg.norm(frame_features(red)[0].astype(float) - frame_features(gradient())[0].astype(float))
    assert m.result()["novelty"] == pytest.approx(expected, rel=1e-6)


def test_drift_first_vs_latest_window() -> None:
    m = RoundMetrics()
    for _ in range(DRIFT_WINDOW):
        m.update(gradient())
    assert m.result()["drift"] == pytest.approx(0.0, abs=1e-9)
    grey = const((128, 128, 128), 64)
    for r in range(3):  # over later rounds the stream fades to flat grey
        m.reset()
        for _ in range(DRIFT_WINDOW):
            m.update(grey)
    r = m.result()
    f = frame_features(np.stack([gradient(), grey])).astype(float)
    assert r["drift"] == pytest.approx(np.linalg.norm(f[0] - f[1]), rel=1e-6)
    assert r["quality_drift"] < -0.2  # the picture got worse


def test_reference_distances_and_keys() -> None:
    refs = centroids_from_frames({"Ocean waves #1": np.stack([gradient()] * 2), "desert": const((200, 150, 60), 64)})
    m = RoundMetrics()
    m.references = check_references(refs)
    m.update(gradient())
    r = m.result()
    assert r["dist_ocean_waves_1"] == pytest.approx(0.0, abs=1e-6)
    assert r["dist_desert"] > 0.3 and r["nearest_trend_distance"] == r["dist_ocean_waves_1"]
    with pytest.raises(ValueError, match="shape"):
        check_references({"x": np.zeros(5)})
    with pytest.raises(ValueError, match="dist_a_b"):
        check_references({"a b": np.zeros(28), "a-b": np.zeros(28)})
    with pytest.raises(ValueError, match="no letters"):
        check_references({"!!": np.zeros(28)})
    assert "nearest_trend_distance" not in RoundMetrics().result()  # no frames ever: no distances


def test_content_metrics_survive_state_round_trip() -> None:
    m = RoundMetrics()
    m.references = check_references({"g": frame_features(gradient())[0]})
    for i in range(5):
        m.update(gradient(i))
    m.reset()
    m.update(gradient(9))
    n = RoundMetrics()
    n.load_state_dict(m.state_dict())
    for x in (m, n):
        x.update(const((10, 200, 30), 64))
    assert m.result() == n.result()


def test_sampled_metrics_pair_consecutive_frames_and_resume_exactly() -> None:
    """The engine's subsample: pairs are still consecutive frames (every 2nd frame with its predecessor),
    features come from every 4th frame, and a state round trip continues on the same subsample."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(12)]
    full, sampled = RoundMetrics(), RoundMetrics.sampled()
    for f in frames:
        full.update(f)
        sampled.update(f)
    assert (full.pairs, sampled.pairs) == (11, 5) and (full._feat_n, sampled._feat_n) == (12, 3)
    twin = RoundMetrics.sampled()
    for f in frames[:5]:
        twin.update(f)
    copy = RoundMetrics.sampled()
    copy.load_state_dict(twin.state_dict())
    for f in frames[5:]:
        copy.update(f)
    assert copy.result() == sampled.result()
    with pytest.raises(ValueError):
        RoundMetrics(pair_every=0)
