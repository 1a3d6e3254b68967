"""The packaged base model meets the issue's quality bar, and its trainer runs and resumes exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from media.base_eval import source_classifier, topic_accuracy
from media.embedding import get_text_embedder
from media.generator import (
    GeneratorConfig,
    GeneratorLoadError,
    TinyDiffusionGenerator,
    config_for_checkpoint,
    resolve_checkpoint,
)
from media.train_base import TrainError, main, train
from media.trends import DEFAULT_TOPICS

BASE = resolve_checkpoint("base")


@pytest.fixture(scope="module")
def classifier():
    return source_classifier(list(DEFAULT_TOPICS), 64, frames=32)


def test_default_config_is_the_packaged_checkpoint():
    assert GeneratorConfig().checkpoint == "base" and BASE.is_file()
    assert BASE.stat().st_size <= 30 * 2**20
    note = json.loads(BASE.with_suffix(".json").read_text())
    assert note["command"].startswith("python -m media.train_base") and note["steps"] > 0
    assert math.isfinite(note["final_loss"]) and note["wall_seconds"] > 0
    want = GeneratorConfig().model_dump(exclude={"checkpoint", "cpu_path", "init_seed"})  # how it runs, not what
    assert {k: v for k, v in note["generator_config"].items() if k in want}.items() <= want.items()
    assert note["generator_config"]["block_out_channels"] == want["block_out_channels"]
    assert config_for_checkpoint("base") == GeneratorConfig()  # fields newer than the note take its defaults


@pytest.mark.parametrize("steps", [1, 2])
def test_generated_frames_show_the_prompts_topic(steps, classifier):
    gen = TinyDiffusionGenerator(GeneratorConfig())  # default = the packaged base model
    acc = topic_accuracy(gen, get_text_embedder().embed, list(DEFAULT_TOPICS), steps, seeds=3, classifier=classifier)
    assert acc >= 0.70, f"{steps}-step topic accuracy {acc:.2f} < 0.70 (chance 0.125)"


def test_the_bar_is_not_met_by_an_untrained_model(classifier):
    gen = TinyDiffusionGenerator(GeneratorConfig(checkpoint=None))
    acc = topic_accuracy(gen, get_text_embedder().embed, list(DEFAULT_TOPICS), 1, seeds=2, classifier=classifier)
    assert acc < 0.4


def test_checkpoint_for_another_architecture_is_one_clear_error():
    with pytest.raises(GeneratorLoadError, match="space_to_depth=2 .config: 1."):
        TinyDiffusionGenerator(GeneratorConfig(space_to_depth=1))


# ---------------------------------------------------------------------------------------------- trainer
def _args(tmp_path, steps: int, *extra: str) -> list[str]:
    return [
        "--steps",
        str(steps),
        "--batch",
        "2",
        "--resolution",
        "16",
        "--channels",
        "16,32,32",
        "--topics",
        "ocean waves,fireworks",
        "--scene-seeds",
        "2",
        "--save-every",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "m.safetensors"),
        *extra,
    ]


def test_trainer_runs_resumes_and_matches_an_uninterrupted_run(tmp_path):
    embed = get_text_embedder().embed
    first = train(_args(tmp_path / "a", 3), embed=embed)
    assert first["steps"] == 3 and math.isfinite(first["final_loss"])
    state = torch.load(tmp_path / "a" / "m.state.pt", weights_only=False)
    assert state["step"] == 3 and len(state["losses"]) == 3
    resumed = train(_args(tmp_path / "a", 5, "--resume"), embed=embed)
    assert resumed["steps"] == 5 and math.isfinite(resumed["final_loss"])
    assert json.loads((tmp_path / "a" / "m.json").read_text())["steps"] == 5

    straight = train(_args(tmp_path / "b", 5), embed=embed)  # same seed, no interruption
    wa, wb = load_file(str(tmp_path / "a" / "m.safetensors")), load_file(str(tmp_path / "b" / "m.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-3) for k in wa)
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-4)

    cfg = GeneratorConfig(checkpoint=str(tmp_path / "a" / "m.safetensors"), block_out_channels=[16, 32, 32])
    frames = TinyDiffusionGenerator(cfg).generate(embed(["ocean waves"]), 16, 1, [torch.Generator().manual_seed(0)])
    assert frames.shape == (1, 16, 16, 3) and np.isfinite(frames).all()


def test_trainer_bad_arguments(tmp_path, capsys):
    with pytest.raises(TrainError, match="no state file"):
        train(_args(tmp_path, 2, "--resume"), embed=get_text_embedder().embed)
    with pytest.raises(TrainError, match="multiples of 8"):
        train(_args(tmp_path, 2)[:-2] + ["--out", str(tmp_path / "m.safetensors"), "--resolution", "20"])
    assert main(["--steps", "0", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "error:" in capsys.readouterr().err


def test_worker_processes_and_the_caption_cache_train_on_the_same_batches(tmp_path):
    """Rendering in 2 worker processes, resumed half-way, learns from exactly the batches of one process;
    the caption cache written where MiniLM is installed is all a machine without it needs."""
    cache = tmp_path / "captions.npz"
    alone = train(_args(tmp_path / "a", 4, "--caption-embeddings", str(cache)), embed=get_text_embedder().embed)
    assert cache.is_file()
    pooled = ["--workers", "2", "--caption-embeddings", str(cache)]
    train(_args(tmp_path / "b", 2, *pooled))  # no embedder given: the cache answers
    resumed = train(_args(tmp_path / "b", 4, *pooled, "--resume"))
    assert resumed["workers"] == 2 and resumed["final_loss"] == pytest.approx(alone["final_loss"], rel=1e-4)
    wa, wb = load_file(str(tmp_path / "a" / "m.safetensors")), load_file(str(tmp_path / "b" / "m.safetensors"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-3) for k in wa)
    with pytest.raises(TrainError, match="no embedding for"):
        train(_args(tmp_path / "c", 1, "--caption-embeddings", str(cache), "--topics", "a new topic"))
