"""Runtime finetuning: the measured effect, determinism, private copies, checkpoints and their safety."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from media.cost_model import CostModel
from media.finetune import LORA_CONV_TARGETS, FinetuneError, FinetuneJob, model_id, tensors_digest
from media.finetune_checkpoints import CheckpointDir, inside, load_finetuned_generator, read_adapter, save_adapter
from media.finetune_cost import FinetuneCost, estimate_step_seconds
from media.generator import PACKAGED_CHECKPOINTS, GeneratorConfig, TinyDiffusionGenerator
from media.sources.synthetic import SyntheticScene
from media.topic_features import frame_features

R = 32
TINY = dict(block_out_channels=[16, 32, 32], checkpoint=None)  # as tests/conftest.py: fast on 2 shared cores


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base() -> TinyDiffusionGenerator:
    return TinyDiffusionGenerator(GeneratorConfig(**TINY))


@pytest.fixture(scope="module")
def prompt() -> np.ndarray:
    """A fixed unit "prompt embedding" (no MiniLM load needed: the job only sees the 384 numbers)."""
    v = np.random.default_rng(0).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def scene_frames(topic: str, t0: float, n: int) -> np.ndarray:
    return SyntheticScene(topic, 0).frames(t0, n, 8.0, R)


def sample(gen: TinyDiffusionGenerator, cond: np.ndarray, steps: int = 2, n: int = 8) -> np.ndarray:
    return gen.generate(np.repeat(cond[None], n, 0), R, steps, [torch.Generator().manual_seed(i) for i in range(n)])


def weights_digest(gen: TinyDiffusionGenerator) -> str:
    return tensors_digest(gen.unet.state_dict())


def lora_job(base, prompt, **kw) -> FinetuneJob:
    opts = dict(steps=3, method="lora", rank=4, lr=3e-2, batch_size=2, seed=7, source_id="synthetic:0")
    return FinetuneJob(base, scene_frames("neon tunnel", 0.0, 6), prompt, **{**opts, **kw})


# ------------------------------------------------------------------------------------------ measured effect
@pytest.fixture(scope="module")
def ocean_finetune(base, prompt):
    """60 full-finetuning steps of the random-init tiny model on 32 captured frames (2 s) of "ocean waves"."""
    before = weights_digest(base)
    job = FinetuneJob(
        base,
        scene_frames("ocean waves", 0.0, 32),
        prompt,
        steps=60,
        method="full",
        lr=3e-3,
        batch_size=4,
        seed=0,
        source_id="synthetic:0",
    )
    losses = job.run()
    return before, job, losses, job.export_generator()


def test_finetuned_frames_move_towards_the_scene(base, prompt, ocean_finetune) -> None:
    """Same prompt, same seeds, 2 sampling steps: mean feature distance to the scene drops by >= 30%.

    The centroid comes from OTHER frames of the scene (a minute later) than the 32 the job saw. Measured at
    2 steps (the tiny config's steps_max): with 1 step any MSE-trained diffusion model returns the mean of
    what it learned (a blur of the clip), which the structure features do not count as the scene.
    """
    *_, tuned = ocean_finetune
    centroid = frame_features(scene_frames("ocean waves", 60.0, 48)).mean(0)

    def mean_distance(gen) -> float:
        return float(np.linalg.norm(frame_features(sample(gen, prompt)) - centroid, axis=1).mean())

    d_base, d_tuned = mean_distance(base), mean_distance(tuned)
    assert d_tuned <= 0.7 * d_base, f"distance {d_base:.3f} -> {d_tuned:.3f} ({1 - d_tuned / d_base:.0%} drop)"


@pytest.mark.skipif(
    not (PACKAGED_CHECKPOINTS / "base.safetensors").is_file(),
    reason="no trained base checkpoint (python -m media.train_base) in media/checkpoints",
)
def test_lora_on_the_trained_base_retargets_a_prompt_to_the_live_scene() -> None:
    """The stream's case: its prompt says "neon tunnel", the trending source shows ocean waves. 60 LoRA steps
    on 32 captured frames, paired with the stream's own prompt, move its frames >= 30% closer to the scene."""
    import json

    from safetensors import safe_open

    from media.embedding import get_text_embedder

    path = PACKAGED_CHECKPOINTS / "base.safetensors"
    with safe_open(str(path), framework="pt") as f:
        arch = json.loads(f.metadata()["generator_config"])
    base = TinyDiffusionGenerator(GeneratorConfig(**{**arch, "checkpoint": "base"}), get_text_embedder())
    cond = base.encode_prompts(["neon tunnel"])[0]
    job = FinetuneJob(
        base,
        scene_frames("ocean waves", 0.0, 32),
        cond,
        steps=60,
        method="lora",
        lr=1e-2,
        target_modules=LORA_CONV_TARGETS,
        seed=0,
    )
    job.run()
    centroid = frame_features(scene_frames("ocean waves", 60.0, 48)).mean(0)

    def mean_distance(gen) -> float:
        return float(np.linalg.norm(frame_features(sample(gen, cond)) - centroid, axis=1).mean())

    d_base, d_tuned = mean_distance(base), mean_distance(job.export_generator())
    assert d_tuned <= 0.7 * d_base, f"distance {d_base:.3f} -> {d_tuned:.3f} ({1 - d_tuned / d_base:.0%} drop)"


def test_finetuning_leaves_the_base_alone(base, ocean_finetune) -> None:
    before, job, losses, tuned = ocean_finetune
    assert weights_digest(base) == before  # the stream's copy is separate
    assert tuned is not base and tuned.unet is not base.unet and tuned.embedder is base.embedder
    assert model_id(tuned) != model_id(base) and model_id(tuned).startswith("ft-")
    assert job.done and job.steps_done == 60 and len(losses) == 60 and all(np.isfinite(losses))
    assert np.mean(losses[-15:]) < np.mean(losses[:15])  # it learned something
    with pytest.raises(FinetuneError, match="already did its 60 steps"):
        job.step()


def test_lora_trains_only_adapters_and_exports_a_separate_model(base, prompt) -> None:
    before = weights_digest(base)
    job = lora_job(base, prompt)
    total = sum(p.numel() for p in base.unet.parameters())
    assert 0 < job.trainable_parameters < total / 5
    untouched = job.export_generator()  # LoRA B starts at 0: exactly the base's frames
    assert np.array_equal(sample(untouched, prompt, n=2), sample(base, prompt, n=2))
    job.run()
    tuned = job.export_generator()
    assert weights_digest(base) == before
    assert not np.array_equal(sample(tuned, prompt, n=2), sample(base, prompt, n=2))
    assert model_id(tuned) != model_id(untouched) != model_id(base)
    assert model_id(job.export_generator()) == model_id(tuned)  # stable: same weights, same id


# ------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_loss_curve(base, prompt) -> None:
    a, b = lora_job(base, prompt, steps=4), lora_job(base, prompt, steps=4)
    assert a.run() == b.run()
    assert tensors_digest(a.trained_tensors()) == tensors_digest(b.trained_tensors())
    c = lora_job(base, prompt, steps=4, seed=8)
    assert c.run() != a.losses


def test_model_id_is_a_function_of_the_weights(base) -> None:
    twin = TinyDiffusionGenerator(GeneratorConfig(**TINY))
    other = TinyDiffusionGenerator(GeneratorConfig(**TINY, init_seed=1))
    assert model_id(twin) == model_id(base) != model_id(other)
    twin.unet.load_state_dict(other.unet.state_dict())
    assert model_id(twin) == model_id(other)  # new weights, new id (the cache follows the change)


# ------------------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("method", ["lora", "full"])
def test_save_load_round_trip_gives_identical_frames(base, prompt, tmp_path, method) -> None:
    job = lora_job(base, prompt, method=method, lr=3e-2 if method == "lora" else 3e-3)
    job.run()
    store = CheckpointDir(tmp_path / "checkpoints")
    name = store.save(job, "streamer-1")
    assert name == "streamer-1/ft-1.safetensors" and store.latest("streamer-1") == name
    assert store.save(job, "streamer-1") == "streamer-1/ft-2.safetensors"

    loaded = load_finetuned_generator(base, tmp_path / "checkpoints", name)
    exported = job.export_generator()
    assert np.array_equal(sample(loaded, prompt), sample(exported, prompt))
    assert model_id(loaded) == model_id(exported)
    _, meta = read_adapter(tmp_path / "checkpoints", name)
    assert meta["method"] == method and meta["steps_done"] == 3 and meta["source_id"] == "synthetic:0"
    assert meta["base_model_id"] == model_id(base) and np.isfinite(meta["loss"])
    assert meta["rank"] == (4 if method == "lora" else None)


def test_inherited_checkpoint_loads_for_the_child(base, prompt, tmp_path) -> None:
    job = lora_job(base, prompt)
    job.run()
    store = CheckpointDir(tmp_path)
    assert store.inherit("parent", "child") is None  # nothing to inherit yet
    store.save(job, "parent")
    name = store.inherit("parent", "child")
    assert name == "child/ft-1.safetensors"
    assert np.array_equal(sample(store.load(base, name), prompt, n=2), sample(job.export_generator(), prompt, n=2))


@pytest.mark.parametrize(
    "name",
    [
        "../escape.safetensors",
        "a/../../escape.safetensors",
        "/tmp/abs.safetensors",
        "",
        "x.pt",
    ],
)
def test_paths_outside_the_checkpoint_folder_are_refused(tmp_path, name) -> None:
    with pytest.raises(FinetuneError):
        inside(tmp_path / "checkpoints", name)


def test_symlink_and_streamer_traversal_refused(base, prompt, tmp_path) -> None:
    root = tmp_path / "checkpoints"
    root.mkdir()
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    job = lora_job(base, prompt, steps=1)
    with pytest.raises(FinetuneError, match="leads outside"):
        save_adapter(job, root, "link/x.safetensors")  # the link points at tmp_path
    with pytest.raises(FinetuneError, match="safe folder name"):
        CheckpointDir(root).save(job, "../evil")
    assert not (tmp_path / "x.safetensors").exists()


def test_missing_corrupt_and_foreign_checkpoints_are_one_clear_error(base, prompt, tmp_path) -> None:
    from safetensors.torch import save_file

    with pytest.raises(FinetuneError, match="not found"):
        load_finetuned_generator(base, tmp_path, "nobody/ft-1.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00\x01 definitely not safetensors")
    with pytest.raises(FinetuneError, match="cannot read finetune checkpoint"):
        load_finetuned_generator(base, tmp_path, "junk.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(FinetuneError, match="not a finetune checkpoint"):
        load_finetuned_generator(base, tmp_path, "plain.safetensors")

    job = lora_job(base, prompt, steps=1)
    job.run()
    path = save_adapter(job, tmp_path, "s/ft-1.safetensors")
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x7f" * 8  # flip the last tensor bytes: the file still parses, its content is wrong
    (tmp_path / "s" / "ft-2.safetensors").write_bytes(bytes(data))
    with pytest.raises(FinetuneError, match="damaged"):
        load_finetuned_generator(base, tmp_path, "s/ft-2.safetensors")
    other = TinyDiffusionGenerator(GeneratorConfig(**TINY, init_seed=3))
    with pytest.raises(FinetuneError, match="trained on base"):
        load_finetuned_generator(other, tmp_path, "s/ft-1.safetensors")


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "frames, options, match",
    [
        (None, {"steps": 0}, "steps"),
        (None, {"steps": -3}, "steps"),
        (None, {"steps": 2, "method": "dreambooth"}, "method"),
        (None, {"steps": 2, "rank": 0}, "rank"),
        (None, {"steps": 2, "lr": -1.0}, "lr"),
        (None, {"steps": 2, "learning_rate": 0.1}, "learning_rate"),
        (None, {"steps": 2, "target_modules": ["no_such_layer"]}, "target_modules"),
        (np.zeros((0, R, R, 3), np.uint8), {"steps": 2}, "empty"),
        (np.zeros((4, R, R, 3), np.float32), {"steps": 2}, "uint8"),
        (np.zeros((4, R, R, 4), np.uint8), {"steps": 2}, "uint8"),
        (np.zeros((R, R, 3), np.uint8), {"steps": 2}, "uint8"),
        (np.zeros((4, R, R + 8, 3), np.uint8), {"steps": 2}, "square"),
        (np.zeros((4, 12, 12, 3), np.uint8), {"steps": 2}, "multiple of 8"),
        ([[1, 2, 3]], {"steps": 2}, "uint8"),
    ],
)
def test_bad_arguments_are_one_clear_error(base, prompt, frames, options, match) -> None:
    frames = scene_frames("neon tunnel", 0.0, 2) if frames is None else frames
    with pytest.raises(FinetuneError, match=match) as info:
        FinetuneJob(base, frames, prompt, **options)
    assert "\n" not in str(info.value)


def test_bad_conditioning_and_base_are_refused(base, prompt) -> None:
    frames = scene_frames("neon tunnel", 0.0, 2)
    with pytest.raises(FinetuneError, match="384"):
        FinetuneJob(base, frames, prompt[:10], steps=1)
    with pytest.raises(FinetuneError, match="384"):
        FinetuneJob(base, frames, np.full(384, np.nan, np.float32), steps=1)
    with pytest.raises(FinetuneError, match="no text embedder"):
        FinetuneJob(base, frames, "ocean waves", steps=1)
    with pytest.raises(FinetuneError, match="embedded generator"):
        FinetuneJob(object(), frames, prompt, steps=1)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ cost
def test_step_cost_is_deterministic_and_scales_with_work() -> None:
    cost = CostModel()
    one = estimate_step_seconds(4, 32, "lora", cost)
    assert one == estimate_step_seconds(4, 32, "lora", cost) > 0
    assert estimate_step_seconds(8, 32, "lora", cost) > one
    assert estimate_step_seconds(4, 64, "lora", cost) > one
    assert estimate_step_seconds(4, 32, "full", cost) >= one
    assert one > cost.batch_seconds(4, 32, 1)  # a training step costs more than a forward
    with pytest.raises(FinetuneError, match="method"):
        FinetuneCost().step_seconds(cost, "dreambooth", 4, 32)


def test_a_job_resumed_from_its_state_continues_exactly(base, prompt) -> None:
    for method in ("lora", "full"):
        whole = lora_job(base, prompt, steps=4, method=method, lr=1e-2)
        whole.run()
        first = lora_job(base, prompt, steps=4, method=method, lr=1e-2)
        first.run(2)
        resumed = FinetuneJob.from_state_dict(base, first.state_dict())
        assert resumed.run() == whole.losses[2:] and resumed.losses == whole.losses and resumed.done
        assert model_id(resumed.export_generator()) == model_id(whole.export_generator())
    with pytest.raises(FinetuneError, match="unusable finetune state"):
        FinetuneJob.from_state_dict(base, {"frames": None})
