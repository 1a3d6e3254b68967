"""Image metrics on hand-made frames whose values can be computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from media.frame_metrics import colourfulness, frame_stats, ssim
from media.metrics import RoundMetrics


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
    for _ in range(3):  # over later rounds the stream fades to flat grey
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


# ------------------------------------------------------------------ float32 fast path vs a float64 reference
from media.frame_metrics import _filter, _gauss_kernel  # noqa: E402
from media.sources.synthetic import SyntheticScene  # noqa: E402


def _ref_filter(img: np.ndarray) -> np.ndarray:
    """The textbook form in float64: 'valid' 2-d correlation with the outer product of the 1-d window."""
    side = min(img.shape)
    k = _gauss_kernel(11 if side >= 11 else (side if side % 2 else side - 1))
    w = np.outer(k, k)
    n = k.size
    out = np.zeros((img.shape[0] - n + 1, img.shape[1] - n + 1))
    for i in range(n):
        for j in range(n):
            out += w[i, j] * img[i : i + out.shape[0], j : j + out.shape[1]]
    return out


def _ref_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s five-filter SSIM in float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _ref_filter(a), _ref_filter(b)
    saa, sbb, sab = _ref_filter(a * a) - mu_a**2, _ref_filter(b * b) - mu_b**2, _ref_filter(a * b) - mu_a * mu_b
    return float(np.mean((2 * mu_a * mu_b + c1) * (2 * sab + c2) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))))


def _grey64(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(np.float64)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def _scene(topic: str = "ocean waves", n: int = 4, size: int = 64) -> np.ndarray:
    return SyntheticScene(topic, 0).frames(0.0, n, 8.0, size)


def test_stacked_flat_filter_matches_the_2d_window() -> None:
    rng = np.random.default_rng(5)
    for shape in [(64, 64), (37, 51), (11, 11), (12, 30), (7, 9), (5, 100), (2, 2)]:
        imgs = rng.random((3, *shape)) * 255
        out = _filter(imgs.astype(np.float32))
        assert out.shape == (3, *_ref_filter(imgs[0]).shape)
        for i in range(3):
            np.testing.assert_allclose(out[i], _ref_filter(imgs[i]), rtol=1e-5, atol=1e-3)


def test_float32_ssim_matches_the_float64_five_filter_form() -> None:
    rng = np.random.default_rng(6)
    scene = _scene(n=3)
    cases = [
        (_grey64(scene[0]), _grey64(scene[1])),
        (_grey64(scene[0]), _grey64(scene[2])),
        (_grey64(gradient()), _grey64(gradient(3))),
        (_grey64(gradient()), rng.integers(0, 256, (64, 64)).astype(float)),
        (_grey64(noise(rng, 9)), _grey64(noise(rng, 9))),  # smaller than the window
        (_grey64(const((0, 0, 0))), _grey64(const((255, 255, 255)))),
    ]
    for a, b in cases:
        assert ssim(a, b) == pytest.approx(_ref_ssim(a, b), abs=1e-5)
        assert ssim(a, a) == 1.0  # identical images: numerator and denominator are the same float32 numbers


def test_ssim_falls_as_noise_grows() -> None:
    rng = np.random.default_rng(7)
    a = _grey64(_scene(n=1)[0])
    values = [ssim(a, np.clip(a + rng.normal(0, s, a.shape), 0, 255)) for s in (0, 2, 5, 10, 20, 40, 80)]
    assert values[0] == 1.0 and all(x > y for x, y in zip(values, values[1:])) and values[-1] < 0.5


def test_still_metrics_match_a_float64_reference() -> None:
    rng = np.random.default_rng(8)
    for frame in [*_scene("desert sunset", 2), gradient(), noise(rng), noise(rng, 13), const((20, 200, 90))]:
        f = frame.astype(np.float64)
        grey = _grey64(frame)
        rg, yb = f[..., 0] - f[..., 1], 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
        lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
        got = frame_stats(frame)
        assert got["colourfulness"] == pytest.approx(
            math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()), rel=1e-6, abs=1e-9
        )
        assert got["sharpness"] == pytest.approx(lap.var(), rel=1e-5, abs=1e-6)
        assert got["brightness"] == pytest.approx(grey.mean() / 255, rel=1e-6)
        expected_noise = min(1.0, lap.var() / (20 * grey.var())) if grey.var() > 1e-9 else 0.0
        assert got["noise"] == pytest.approx(expected_noise, rel=1e-5, abs=1e-9)


def test_round_metrics_are_bit_identical_on_replay() -> None:
    frames = _scene("neon tunnel", 9)
    runs = []
    for _ in range(2):
        m = RoundMetrics.sampled()
        for f in frames:
            m.update(f.copy())
        runs.append(m.result())
    assert runs[0] == runs[1]


def test_rate_caps_sample_per_stream_second_and_resume_exactly() -> None:
    """At the default season's frame rates the subsample is the base one; at 60 fps each kind is capped at
    so many samples per second, the round means stay close to the full ones, and a resumed stream samples
    the same frames."""
    m = RoundMetrics.sampled()
    m.set_fps(6.0)
    assert (m.still_every, m.pair_every, m.feature_every) == (1, 2, 4)
    m.set_fps(60.0)
    assert (m.still_every, m.pair_every, m.feature_every) == (5, 10, 20)
    with pytest.raises(ValueError):
        m.set_fps(0.0)

    frames = list(SyntheticScene("ocean waves", 0).frames(0.0, 120, 60.0, 64))  # two seconds at 60 fps
    full, capped = RoundMetrics(), RoundMetrics.sampled()
    capped.set_fps(60.0)
    for f in frames:
        full.update(f)
        capped.update(f)
    assert (capped.frames, capped.still_n, capped.pairs, capped._feat_n) == (
        120,
        24,
        11,
        6,
    )  # frame 0 has no predecessor to pair with
    a, b = full.result(), capped.result()
    for k in ("quality", "stability", "brightness", "flicker", "ssim"):
        assert abs(a[k] - b[k]) < 0.02, (k, a[k], b[k])

    twin = RoundMetrics.sampled()
    twin.set_fps(60.0)
    for f in frames[:37]:
        twin.update(f)
    resumed = RoundMetrics.sampled()
    resumed.load_state_dict(twin.state_dict())
    assert resumed.fps == 60.0
    for f in frames[37:]:
        resumed.update(f)
    assert resumed.result() == capped.result()


def test_every_round_with_frames_has_still_metrics() -> None:
    """A round shorter than one still-metrics period still measures its picture (not a zero quality)."""
    m = RoundMetrics.sampled()
    m.set_fps(60.0)
    frames = _scene(n=8)
    for f in frames[:6]:
        m.update(f)
    m.reset()
    m.update(frames[6])  # frame 7 of the stream's life: not on the every-5th grid
    assert m.still_n == 1 and m.result()["quality"] > 0
