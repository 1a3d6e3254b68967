"""The embedded tiny diffusion generator: batching, per-stream determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from media.embedding import get_text_embedder
from media.generator import (
    GeneratorConfig,
    GeneratorLoadError,
    TinyDiffusionGenerator,
    build_scheduler,
    strength_timesteps,
)
from media.pixel_unshuffle import to_latent

R = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def emb() -> np.ndarray:
    return get_text_embedder().embed(["a red fox in snow", "a neon city at night", "ocean waves", "a bowl of fruit"])


@pytest.fixture(scope="module")
def gen() -> TinyDiffusionGenerator:
    return TinyDiffusionGenerator(GeneratorConfig(), get_text_embedder())


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to float rounding of a differently sized batched convolution."""
    d = np.abs(a.astype(int) - b.astype(int))
    return bool(d.max() <= 2 and (d > 0).mean() < 0.01)


def test_config_defaults_and_forbids_unknown_fields() -> None:
    c = GeneratorConfig()
    # The default is the packaged base model (media/checkpoints, trained by media.train_base).
    assert (c.kind, c.checkpoint, c.scheduler, c.block_out_channels, c.layers_per_block, c.space_to_depth) == (
        "embedded",
        "base",
        "ddim",
        [16, 32, 32, 64],
        1,
        2,
    )
    with pytest.raises(pydantic.ValidationError):
        GeneratorConfig(model="sd-turbo")


def test_output_shape_and_dtype(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    out = gen.generate(emb[:3], R, 1, gens(0, 1, 2))
    assert out.shape == (3, R, R, 3) and out.dtype == np.uint8


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Clearly different: far more changed pixels than batched-convolution rounding could explain."""
    return bool((a != b).mean() > 0.2)


def test_different_prompts_give_different_frames(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    out = gen.generate(emb[:2], R, 2, gens(7, 7))  # same noise, different prompts
    assert differ(out[0], out[1])
    swapped = gen.generate(emb[[1, 0]], R, 2, gens(7, 7))  # each prompt reaches its own item
    assert close(out[0], swapped[1]) and close(out[1], swapped[0])
    out = gen.generate(emb[[0, 0]], R, 2, gens(7, 8))  # same prompt, different noise
    assert differ(out[0], out[1])


def test_per_stream_result_does_not_depend_on_the_batch(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    alone = gen.generate(emb[[1]], R, 2, gens(42))[0]
    in_batch = gen.generate(emb[[3, 1, 0]], R, 2, gens(5, 42, 9))
    assert close(alone, in_batch[1])
    other = gen.generate(emb[[1, 2, 3, 0]], R, 2, gens(42, 1, 2, 3))
    assert close(alone, other[0])


def test_each_generator_advances_independently(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    g = gens(3)
    first = gen.generate(emb[[0]], R, 1, g)[0]
    second = gen.generate(emb[[0]], R, 1, g)[0]
    assert differ(first, second)  # the stream moves on
    again = gen.generate(emb[[0]], R, 1, gens(3))[0]
    assert close(first, again)


def test_one_batched_unet_call_per_step(gen: TinyDiffusionGenerator, emb: np.ndarray, monkeypatch) -> None:
    seen: list[int] = []
    real = gen.unet_forward

    def spy(x, t, e):
        seen.append(x.shape[0])
        assert e.shape == (x.shape[0], 384)
        return real(x, t, e)

    monkeypatch.setattr(gen, "unet_forward", spy)
    gen.generate(emb[:3], R, 3, gens(0, 1, 2))
    assert seen == [3, 3, 3]


def test_euler_scheduler_samples(emb: np.ndarray) -> None:
    g = TinyDiffusionGenerator(GeneratorConfig(scheduler="euler"))
    a = g.generate(emb[:2], R, 2, gens(1, 2))
    b = g.generate(emb[:2], R, 2, gens(1, 2))
    assert a.shape == (2, R, R, 3)
    assert close(a[0], b[0]) and close(a[1], b[1])


def test_bad_arguments(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    with pytest.raises(ValueError, match=f"multiple of {gen.downscale}"):
        gen.generate(emb[:1], 30, 1, gens(0))
    with pytest.raises(ValueError, match="one torch.Generator per item"):
        gen.generate(emb[:2], R, 1, gens(0))
    with pytest.raises(ValueError, match="shape"):
        gen.generate(np.zeros((1, 10), np.float32), R, 1, gens(0))


def test_init_seed_controls_untrained_weights(emb: np.ndarray) -> None:
    a = TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, init_seed=1)).generate(emb[:1], R, 1, gens(0))
    b = TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, init_seed=1)).generate(emb[:1], R, 1, gens(0))
    c = TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, init_seed=2)).generate(emb[:1], R, 1, gens(0))
    assert close(a[0], b[0])
    assert differ(a[0], c[0])


def test_checkpoint_round_trip(tmp_path, emb: np.ndarray) -> None:
    src = TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, init_seed=11))
    path = tmp_path / "ckpt" / "tiny.safetensors"
    src.save_checkpoint(path)
    loaded = TinyDiffusionGenerator(GeneratorConfig(init_seed=99, checkpoint=str(path)))
    assert close(src.generate(emb[:1], R, 2, gens(4))[0], loaded.generate(emb[:1], R, 2, gens(4))[0])


def test_checkpoint_errors_name_the_path(tmp_path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(GeneratorLoadError, match="nope.safetensors"):
        TinyDiffusionGenerator(GeneratorConfig(checkpoint=str(missing)))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(GeneratorLoadError, match="garbage.safetensors"):
        TinyDiffusionGenerator(GeneratorConfig(checkpoint=str(garbage)))
    other = tmp_path / "other_arch.safetensors"
    TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, block_out_channels=[32, 32, 32])).save_checkpoint(other)
    with pytest.raises(GeneratorLoadError, match="other_arch.safetensors"):
        TinyDiffusionGenerator(GeneratorConfig(checkpoint=str(other)))
    assert issubclass(GeneratorLoadError, ValueError)


# ------------------------------------------------------------------------------------------------ img2img


def frames(n: int, seed: int = 0) -> np.ndarray:
    """Smooth colourful init frames (a gradient per item), like a previous keyframe."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, R, dtype=np.float32)
    out = []
    for _ in range(n):
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        out.append(c0 + (c1 - c0) * x[None, :, None] * np.ones((R, 1, 1), np.float32))
    return np.clip(np.rint(np.stack(out)), 0, 255).astype(np.uint8)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_strength_timesteps_extend_the_trailing_schedule() -> None:
    for steps in range(1, 51):
        sched = build_scheduler(GeneratorConfig())
        sched.set_timesteps(steps)
        np.testing.assert_array_equal(strength_timesteps(np.ones(1), steps)[0], sched.timesteps.numpy())
    t = strength_timesteps(np.array([1.0, 0.5, 0.3, 0.0]), 4)
    assert t[:, 0].tolist() == [999, 499, 299, 0]  # starts at round(s T) - 1
    assert (np.diff(t[:3], axis=1) < 0).all() and (t >= 0).all()


def ddim_reference(g: TinyDiffusionGenerator, cond: np.ndarray, steps: int, seeds: list[int]) -> np.ndarray:
    """Text-to-image with diffusers' own DDIMScheduler.step loop (what generate() did before img2img)."""
    f = g.config.space_to_depth
    noise = to_latent(torch.stack([torch.randn((3, R, R), generator=s) for s in gens(*seeds)]), f)
    sched = build_scheduler(g.config)
    sched.set_timesteps(steps)
    x = noise
    with torch.inference_mode():
        for t in sched.timesteps:
            x = sched.step(g.unet_forward(x, t, torch.from_numpy(cond)), t, x).prev_sample
    from media.pixel_unshuffle import from_latent

    return ((from_latent(x, f).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_text_to_image_is_diffusers_ddim_exactly(gen: TinyDiffusionGenerator, emb: np.ndarray, steps: int) -> None:
    # steps dividing 1000: diffusers' prev timestep (t - 1000 // steps) is the schedule's next entry
    ours = gen.generate(emb[:2], R, steps, gens(3, 4))
    np.testing.assert_array_equal(ours, ddim_reference(gen, emb[:2], steps, [3, 4]))


def test_strength_one_ignores_the_init(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    txt = gen.generate(emb[:2], R, 2, gens(5, 6))
    img = gen.generate(emb[:2], R, 2, gens(5, 6), init=frames(2), strength=np.ones(2))
    np.testing.assert_array_equal(txt, img)


def test_init_is_noised_with_the_forward_process(gen: TinyDiffusionGenerator, emb: np.ndarray, monkeypatch) -> None:
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = gen.unet_forward

    def spy(x, t, e):
        seen.append((x.clone(), t.clone()))
        return real(x, t, e)

    monkeypatch.setattr(gen, "unet_forward", spy)
    init, strength = frames(3), np.array([0.25, 0.6, 1.0])
    gen.generate(emb[:3], R, 2, gens(1, 2, 3), init=init, strength=strength)
    x, t = seen[0]
    assert t.tolist() == [249, 599, 999] and seen[1][1].tolist() == [124, 299, 499]  # per-item timesteps
    f = gen.config.space_to_depth
    noise = to_latent(torch.stack([torch.randn((3, R, R), generator=g) for g in gens(1, 2, 3)]), f)
    x0 = to_latent(torch.from_numpy(init).permute(0, 3, 1, 2).float() / 127.5 - 1, f)
    expected = build_scheduler(gen.config).add_noise(x0, noise, torch.tensor([249, 599, 999]))
    torch.testing.assert_close(x[:2], expected[:2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x[2], noise[2])  # strength 1: pure noise, as text-to-image


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon", "sample"])
def test_low_strength_stays_near_the_init(emb: np.ndarray, prediction_type: str) -> None:
    g = TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, prediction_type=prediction_type))
    init = frames(4, seed=1)
    out = g.generate(emb[[0, 0, 0, 0]], R, 2, gens(9, 9, 9, 9), init=init, strength=np.array([0.0, 0.01, 0.2, 1.0]))
    np.testing.assert_array_equal(out[0], init[0])  # strength 0 returns the init
    d = [mad(out[i], init[i]) for i in range(4)]
    if prediction_type != "sample":  # an x0-predicting random model ignores its input at any noise level
        assert d[1] < 8.0 < d[3]  # an untrained model keeps a lightly noised init, not a fully noised one
        assert d[1] < d[2]


def test_img2img_item_does_not_depend_on_the_batch(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    init = frames(3, seed=2)
    alone = gen.generate(emb[[1]], R, 2, gens(42), init=init[[1]], strength=np.array([0.4]))[0]
    mixed = gen.generate(emb[[0, 1, 2]], R, 2, gens(5, 42, 9), init=init, strength=np.array([1.0, 0.4, 0.1]))
    assert close(alone, mixed[1])


def test_bad_img2img_arguments(gen: TinyDiffusionGenerator, emb: np.ndarray) -> None:
    init = frames(2)
    with pytest.raises(ValueError, match="without init"):
        gen.generate(emb[:2], R, 1, gens(0, 1), strength=np.ones(2))
    with pytest.raises(ValueError, match="without strength"):
        gen.generate(emb[:2], R, 1, gens(0, 1), init=init)
    with pytest.raises(ValueError, match="init must be uint8"):
        gen.generate(emb[:2], R, 1, gens(0, 1), init=init[:1], strength=np.ones(2))
    with pytest.raises(ValueError, match="init must be uint8"):
        gen.generate(emb[:2], R, 1, gens(0, 1), init=init.astype(np.float32), strength=np.ones(2))
    for bad in ([0.5, 1.5], [0.5, float("nan")], [0.5]):
        with pytest.raises(ValueError, match="strength must be 2 finite values"):
            gen.generate(emb[:2], R, 1, gens(0, 1), init=init, strength=np.array(bad))
