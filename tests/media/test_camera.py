"""The camera: the warp (identity when still, exact pans, clockwise turns, zoom about the centre), its bounds, and
the engine applying it per stream to the img2img init (a still camera leaves frames as they were)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from media import perception
from media.camera import apply_camera, camera_inbetweens, camera_theta, keyframe_seconds, warp_frames
from media.cost_model import CostModel
from media.embedding import get_text_embedder
from media.engine import StreamEngine
from media.generator import GeneratorConfig, TinyDiffusionGenerator
from media.settings import GeneratorLimits, StreamSettings
from media.temporal import interpolate_keyframes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COST = CostModel(seconds_per_call=0.1, seconds_per_sample=0.4)  # as tests/media/test_engine.py: few batches


def picture(res: int = 64, seed: int = 0) -> np.ndarray:
    """A frame with structure everywhere (no two neighbouring columns or rows alike)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(res, res, 3), dtype=np.uint8)


def test_still_camera_is_the_identity_and_touches_nothing() -> None:
    still = StreamSettings()
    assert not still.camera_moving()
    frames = np.stack([picture(), picture(seed=1)])
    assert apply_camera(frames, [still, still], [0.25, 0.25]) is frames  # no warp runs at all
    identity = np.stack([camera_theta(still, 0.25)] * 2)
    assert np.array_equal(warp_frames(frames, identity), frames)  # and the identity warp is exact anyway
    moving = StreamSettings(pan_x=0.1)
    assert apply_camera(frames, [moving, moving], [0.0, 0.0]) is frames  # no time, no motion


def test_pan_moves_content_by_the_expected_pixels() -> None:
    # 0.25 frame widths per second over one keyframe at 4 fps (0.25 s) = 1/16 of 64 px = 4 px.
    s = StreamSettings(pan_x=0.25, fps=4.0, resolution=64)
    assert keyframe_seconds(s) == 0.25
    f = picture()
    out = apply_camera(f[None], [s], [keyframe_seconds(s)])[0]
    assert np.array_equal(out[:, :-4], f[:, 4:])  # panning right: the scene slides 4 px left
    down = StreamSettings(pan_y=-0.125, fps=4.0)  # pan up 1/8 frame per second = 2 px: the scene slides down
    out = apply_camera(f[None], [down], [0.25])[0]
    assert np.array_equal(out[2:], f[:-2])


def test_rotation_turns_clockwise_and_zoom_grows_about_the_centre() -> None:
    f = picture(32)
    quarter = warp_frames(f[None], camera_theta(StreamSettings(rotate_degrees_per_second=90.0), 1.0)[None])[0]
    assert np.array_equal(quarter, np.rot90(f, k=-1))  # numpy's k=-1 is a clockwise quarter turn
    # Zoom in 2x over one second: the centre 16 px of a 32 px frame fill it (each pixel about twice as big).
    ramp = np.repeat(np.repeat(np.arange(32, dtype=np.uint8)[None, :, None] * 8, 32, axis=0), 3, axis=2)
    zoomed = warp_frames(ramp[None], camera_theta(StreamSettings(zoom_per_second=2.0), 1.0)[None])[0]
    row = zoomed[16, :, 0].astype(float)
    assert abs(np.mean(np.diff(row)) - 4.0) < 0.3  # slope halved: 8 levels per pixel became 4
    assert abs(row.mean() - ramp[16, :, 0].astype(float).mean()) < 4.0  # centred: the mean level stays


def test_warp_is_deterministic_and_per_stream_in_a_batch() -> None:
    frames = np.stack([picture(seed=i) for i in range(3)])
    settings = [StreamSettings(zoom_per_second=1.2), StreamSettings(), StreamSettings(rotate_degrees_per_second=-20)]
    a = apply_camera(frames, settings, [0.5] * 3)
    b = apply_camera(frames.copy(), settings, [0.5] * 3)
    assert np.array_equal(a, b)
    assert np.array_equal(a[1], frames[1]) and not np.array_equal(a[0], frames[0])
    alone = apply_camera(frames[2:], settings[2:], [0.5])  # the same bytes whoever shares the batch
    assert np.array_equal(a[2], alone[0])


def test_camera_settings_and_limits_are_bounded() -> None:
    for bad in ({"zoom_per_second": 0.0}, {"zoom_per_second": 9.0}, {"pan_x": 2.0}, {"rotate_degrees_per_second": 400}):
        with pytest.raises(ValidationError):
            StreamSettings(**bad)
    lim = GeneratorLimits()
    assert (lim.camera_zoom_min, lim.camera_zoom_max, lim.camera_pan_max, lim.camera_rotate_max) == (
        0.8,
        1.25,
        0.25,
        30.0,
    )
    with pytest.raises(ValidationError):
        GeneratorLimits(camera_zoom_min=1.1)  # the limits always allow a still camera
    with pytest.raises(ValidationError):
        GeneratorLimits(camera_zoom_max=0.9)


def test_inbetweens_follow_the_motion() -> None:
    s = StreamSettings(pan_x=0.25, fps=4.0, interpolation=2)  # 0.5 s per keyframe: 8 px, 4 px at the midpoint
    prev, key = picture(), picture(seed=5)
    frames = camera_inbetweens(prev, key, 2, s)
    assert len(frames) == 2 and frames[-1] is key
    half = np.zeros_like(prev)
    half[:, :-4] = prev[:, 4:]
    expected = np.rint(0.5 * half.astype(np.float32) + 0.5 * key.astype(np.float32)).astype(np.uint8)
    assert np.array_equal(frames[0][:, :-4], expected[:, :-4])
    assert camera_inbetweens(prev, key, 1, s) == [key]


# ---------------------------------------------------------------------------------------------------- engine
class InitSpy:
    """The real generator, keeping each batch's img2img inits."""

    def __init__(self, real: TinyDiffusionGenerator) -> None:
        self.real = real
        self.inits: list[np.ndarray | None] = []

    def encode_prompts(self, prompts):
        return self.real.encode_prompts(prompts)

    def generate(self, cond, resolution, steps, generators, init=None, strength=None):
        self.inits.append(None if init is None else np.array(init))
        return self.real.generate(cond, resolution, steps, generators, init=init, strength=strength)


@pytest.fixture(scope="module")
def real_gen() -> TinyDiffusionGenerator:
    return TinyDiffusionGenerator(GeneratorConfig(), get_text_embedder())


def run_pair(gen, camera: dict, seconds: float = 6.0):
    """A still stream and a camera stream, same prompt and seed, in one engine (so in one batch)."""
    engine = StreamEngine(gen, get_text_embedder(), COST)
    frames: dict[str, list[np.ndarray]] = {"still": [], "moving": []}
    for sid, cam in (("still", {}), ("moving", camera)):
        s = StreamSettings(prompt="a quiet forest", resolution=32, fps=4.0, strength=0.3, **cam)
        engine.add_stream(sid, (lambda s=s: s), seed=7)
    reports = engine.advance(seconds, on_frame=lambda sid, f: frames[sid].append(f))
    return reports, frames


def test_a_zoomed_stream_differs_from_a_still_one_and_moves_more(real_gen) -> None:
    spy = InitSpy(real_gen)
    reports, frames = run_pair(spy, {"zoom_per_second": 2.0})
    still, moving = frames["still"], frames["moving"]
    assert np.array_equal(still[0], moving[0])  # the first keyframe is text-to-image: no camera yet
    n = min(len(still), len(moving))
    assert n >= 6 and all(not np.array_equal(a, b) for a, b in zip(still[1:n], moving[1:n]))
    # One forward pass for both: the still item's init is its previous keyframe untouched, the moving item's
    # its previous keyframe zoomed by 2 ** 0.25 (one keyframe at 4 fps).
    inits = [x for x in spy.inits if x is not None]
    zoom = StreamSettings(zoom_per_second=2.0, fps=4.0)
    assert len(inits) >= 5
    for init, a, b in zip(inits, still, moving):
        assert np.array_equal(init[0], a)
        assert np.array_equal(init[1], apply_camera(b[None], [zoom], [0.25])[0])
    motion = {k: perception.motion(255.0 * (1.0 - r.metrics["flicker"])) for k, r in reports.items()}
    assert motion["moving"] > motion["still"]
    assert reports["moving"].settings["zoom_per_second"] == 2.0


def test_a_still_camera_never_warps(real_gen, monkeypatch) -> None:
    import media.engine as engine_module

    def no_inbetweens(*a, **k):
        raise AssertionError("a still camera must not warp its in-betweens")

    monkeypatch.setattr(engine_module, "camera_inbetweens", no_inbetweens)
    spy = InitSpy(real_gen)
    engine = StreamEngine(spy, get_text_embedder(), COST)
    s = StreamSettings(prompt="a racing car", resolution=32, fps=8.0, interpolation=2)
    engine.add_stream("a", lambda: s, seed=3)
    keys: list[np.ndarray] = []
    engine.advance(3.0, on_frame=lambda sid, f: keys.append(f))
    inits = [x for x in spy.inits if x is not None]
    assert inits
    # Each init is exactly the keyframe before it: output frames alternate in-between, keyframe.
    keyframes = keys[0:1] + keys[2::2]
    for init, prev in zip(inits, keyframes):
        assert np.array_equal(init[0], prev)
    assert np.array_equal(keys[1], interpolate_keyframes(keys[0], keys[2], 2)[0])  # today's cross-fade
