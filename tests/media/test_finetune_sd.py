"""Runtime LoRA finetuning on the diffusers (Stable Diffusion) backend, offline on the tiny random SD pipeline
that tests/media/test_diffusers_generator.py builds: the job trains, its checkpoint holds only LoRA tensors and
round-trips, loading it changes what the generator samples, a resumed job continues exactly, and the engine and
a whole season accept `request_finetune` on this backend instead of refusing it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from media.cost_model import CostModel
from media.diffusers_generator import DiffusersGenerator
from media.finetune import FinetuneError, job_from_state, model_id, new_job, tensors_digest
from media.finetune_checkpoints import CheckpointDir, read_adapter
from media.finetune_sd import SDFinetuneJob
from media.settings import StreamSettings
from media.sources import SyntheticScene
from tests.media.test_diffusers_generator import build_tiny_pipeline, gens, mad, make

R = 32
PROMPT = "a calm lake"
# A large step size so that a handful of steps visibly moves a random tiny UNet (the default is 1e-4).
FAST = {"lr": 1e-2, "batch_size": 4}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny_sd_ft"))


@pytest.fixture(scope="module")
def gen(folders) -> DiffusersGenerator:
    return make(folders[0])


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return SyntheticScene("neon tunnel").frames(0.0, 8, 8.0, R)


@pytest.fixture(scope="module")
def trained(gen, frames) -> SDFinetuneJob:
    job = new_job(gen, frames, PROMPT, steps=6, seed=3, **FAST)
    job.run()
    return job


def sample(g: DiffusersGenerator, seed: int = 0) -> np.ndarray:
    return g.generate(g.encode_prompts([PROMPT]), R, 1, gens(seed))[0]


def test_job_trains_only_the_lora_and_changes_the_frames(gen, frames, trained) -> None:
    base_digest = tensors_digest(gen.unet.state_dict())
    fresh = new_job(gen, frames, PROMPT, steps=6, seed=3, **FAST)
    assert isinstance(fresh, SDFinetuneJob) and fresh.config.target_modules == ["to_q", "to_k", "to_v", "to_out.0"]
    before = fresh.trained_tensors()
    assert before and all("lora_" in k for k in before)
    assert fresh.trainable_parameters == sum(t.numel() for t in before.values())
    assert fresh.frames.shape == (8, 4, R // 4, R // 4)  # VAE latents, not pixels
    assert len(trained.losses) == 6 and trained.done and all(np.isfinite(trained.losses))
    assert np.mean(trained.losses[-2:]) < np.mean(trained.losses[:2])  # it learns the frames
    after = trained.trained_tensors()
    assert after.keys() == before.keys()
    assert any(not torch.equal(before[k], v) for k, v in after.items() if "lora_A" in k)
    assert max(float(v.abs().max()) for k, v in after.items() if "lora_B" in k) > 0  # B starts at zero
    assert tensors_digest(gen.unet.state_dict()) == base_digest  # the shared base is never touched
    tuned = trained.export_generator()
    assert isinstance(tuned, DiffusersGenerator) and tuned.vae is gen.vae and tuned.unet is not gen.unet
    assert model_id(tuned) != model_id(gen) and model_id(tuned) == trained.current_model_id()
    assert mad(sample(tuned), sample(gen)) > 1.0  # same prompt and seed, other frames
    meta = trained.metadata()
    assert (meta["backend"], meta["method"], meta["steps_done"], meta["lr"]) == ("diffusers", "lora", 6, 1e-2)


def test_checkpoint_holds_only_the_lora_and_round_trips(gen, trained, tmp_path) -> None:
    folder = CheckpointDir(tmp_path)
    name = folder.save(trained, "streamer-a")
    assert name == "streamer-a/ft-1.safetensors"
    tensors, meta = read_adapter(tmp_path, name)
    assert all("lora_" in k for k in tensors) and meta["backend"] == "diffusers"
    for k, v in trained.trained_tensors().items():
        assert torch.equal(tensors[k], v)
    lora_bytes = sum(t.numel() * t.element_size() for t in tensors.values())
    unet_bytes = sum(t.numel() * t.element_size() for t in gen.unet.state_dict().values())
    assert (tmp_path / name).stat().st_size < lora_bytes + 16_384 and lora_bytes < unet_bytes / 5
    loaded = folder.load(gen, name)  # what a resumed season or an inheriting child does
    assert model_id(loaded) == model_id(trained.export_generator())
    np.testing.assert_array_equal(sample(loaded, 5), sample(trained.export_generator(), 5))
    child = folder.inherit("streamer-a", "streamer-b")
    np.testing.assert_array_equal(sample(folder.load(gen, child), 5), sample(loaded, 5))
    other = make(trained.base.config.model)  # same files, so the same base: accepted
    assert model_id(folder.load(other, name)) == model_id(loaded)
    with torch.no_grad():
        other.unet.conv_in.bias.add_(0.1)  # another base: refused, one line
    with pytest.raises(FinetuneError, match="trained on base"):
        folder.load(other, name)


def test_resumed_job_continues_exactly(gen, frames) -> None:
    straight = new_job(gen, frames, PROMPT, steps=4, seed=7, **FAST)
    straight.run()
    half = new_job(gen, frames, gen.encode_prompts([PROMPT])[0], steps=4, seed=7, **FAST)
    half.run(2)
    resumed = job_from_state(gen, half.state_dict())
    assert isinstance(resumed, SDFinetuneJob) and resumed.steps_done == 2
    resumed.run()
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)
    for k, v in straight.trained_tensors().items():
        torch.testing.assert_close(resumed.trained_tensors()[k], v, rtol=1e-5, atol=1e-6)


def test_half_precision_unet_trains_float32_lora(folders, frames, tmp_path) -> None:
    """A GPU season runs the UNet in float16: the LoRA still trains in float32, and a loaded checkpoint
    samples exactly as the job's export did (bfloat16 here: the CPU's half type)."""
    half = make(folders[0], dtype="bfloat16")
    job = new_job(half, frames, PROMPT, steps=2, seed=1, **FAST)
    assert all(np.isfinite(job.run()))
    dtypes = {("lora_" in n, p.dtype) for n, p in job.unet.named_parameters()}
    assert dtypes == {(True, torch.float32), (False, torch.bfloat16)}
    folder = CheckpointDir(tmp_path)
    name = folder.save(job, "s")
    exported = job.export_generator()
    assert exported.unet.dtype == torch.bfloat16 and mad(sample(exported), sample(half)) > 1.0
    np.testing.assert_array_equal(sample(folder.load(half, name)), sample(exported))


def test_bad_arguments_are_one_line(gen, frames) -> None:
    cases = [
        ((frames, PROMPT), {"steps": 1, "method": "full"}, "LoRA only"),
        ((frames, np.zeros((77, 384), np.float32)), {"steps": 1}, "text-encoder states"),
        ((frames[:, :30, :30], PROMPT), {"steps": 1}, "multiple of 4"),
        ((frames, PROMPT), {"steps": 0}, "finetune steps"),
        ((frames, PROMPT), {"steps": 1, "target_modules": ["nothing_like_this"]}, "target_modules"),
    ]
    for args, options, words in cases:
        with pytest.raises(FinetuneError, match=words) as info:
            new_job(gen, *args, **options)
        assert "\n" not in str(info.value)


def test_engine_finetunes_a_diffusers_stream_and_swaps_it(gen, frames, tmp_path) -> None:
    from media.embedding import get_text_embedder
    from media.engine import StreamEngine

    engine = StreamEngine(
        gen, get_text_embedder(), CostModel(seconds_per_call=0.05, seconds_per_sample=0.1), checkpoint_dir=str(tmp_path)
    )
    for sid, seed in (("a", 1), ("b", 2)):
        s = StreamSettings(prompt=PROMPT, resolution=R, fps=4.0)
        engine.add_stream(sid, (lambda s=s: s), seed=seed)
    assert engine.finetune("a", "streamer-a", frames, PROMPT, steps=3, seed=3, **FAST) == 1
    reports = engine.advance(2.0)
    for _ in range(5):
        if reports["a"].model != "base":
            break
        reports = engine.advance(2.0)
    assert reports["a"].model == "streamer-a/ft-1.safetensors" and reports["b"].model == "base"
    assert (tmp_path / "streamer-a" / "ft-1.safetensors").is_file()
    (done,) = engine.drain_finetune_events()
    assert (done["kind"], done["steps"], done["method"]) == ("finetune_done", 3, "lora")
    assert engine.inherit_finetune("streamer-a", "b") == "b/ft-1.safetensors"  # a PBT child's copy applies
    assert engine.advance(1.0)["b"].model == "b/ft-1.safetensors"


def test_season_on_the_diffusers_backend_accepts_request_finetune(folders, tmp_path) -> None:
    import yaml

    from arena.config import load_season_config
    from arena.db import Database
    from arena.loop import SeasonRunner
    from policies.base import Policy
    from tests.conftest import tiny_config

    class FinetuneOnce(Policy):
        name = "finetune-once"

        def decide(self, obs, act, rng) -> None:
            if obs.round == 1:
                act("request_finetune", {"source_id": obs.trends[0].id, "steps": 2})

    cfg = tiny_config(
        tmp_path,
        rounds=1,
        streamers=2,
        round_seconds=2.0,
        engine={"finetune_share": 0.9},
        generator={"model": {"kind": "diffusers", "model": str(folders[0])}, "device": "cpu"},
    )
    (tmp_path / "season.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    config = load_season_config(tmp_path / "season.yaml", name="sdft")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    runner.policy = FinetuneOnce()
    assert isinstance(runner.world.generator, DiffusersGenerator)
    assert runner.run() == "finished"
    season = db.season("sdft")
    kinds = [e.kind for e in db.events(season.id)]
    assert "finetune_failed" not in kinds and kinds.count("finetune_started") == 2
    assert kinds.count("finetune_done") == 2
    for e in db.events(season.id):
        if e.kind == "finetune_done":
            ckpt = tmp_path / "runs" / "sdft" / "checkpoints" / json.loads(e.payload_json)["checkpoint"]
            assert ckpt.is_file()
