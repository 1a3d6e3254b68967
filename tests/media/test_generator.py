"""The embedded tiny diffusion generator: batching, per-stream determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from media.embedding import get_text_embedder
from media.generator import GeneratorConfig, GeneratorLoadError, TinyDiffusionGenerator

R = 32


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small 32 px batches run faster on one thread, and far faster when other work shares the 2 cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    assert (c.kind, c.checkpoint, c.scheduler, c.block_out_channels, c.layers_per_block) == (
        "embedded", None, "ddim", [32, 64, 64], 1
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
    with pytest.raises(ValueError, match="multiple of 4"):
        gen.generate(emb[:1], 30, 1, gens(0))
    with pytest.raises(ValueError, match="one torch.Generator per item"):
        gen.generate(emb[:2], R, 1, gens(0))
    with pytest.raises(ValueError, match="shape"):
        gen.generate(np.zeros((1, 10), np.float32), R, 1, gens(0))


def test_init_seed_controls_untrained_weights(emb: np.ndarray) -> None:
    a = TinyDiffusionGenerator(GeneratorConfig(init_seed=1)).generate(emb[:1], R, 1, gens(0))
    b = TinyDiffusionGenerator(GeneratorConfig(init_seed=1)).generate(emb[:1], R, 1, gens(0))
    c = TinyDiffusionGenerator(GeneratorConfig(init_seed=2)).generate(emb[:1], R, 1, gens(0))
    assert close(a[0], b[0])
    assert differ(a[0], c[0])


def test_checkpoint_round_trip(tmp_path, emb: np.ndarray) -> None:
    src = TinyDiffusionGenerator(GeneratorConfig(init_seed=11))
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
    TinyDiffusionGenerator(GeneratorConfig(block_out_channels=[16, 32, 32])).save_checkpoint(other)
    with pytest.raises(GeneratorLoadError, match="other_arch.safetensors"):
        TinyDiffusionGenerator(GeneratorConfig(checkpoint=str(other)))
    assert issubclass(GeneratorLoadError, ValueError)
