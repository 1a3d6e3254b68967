"""Issue 18: fixed patterns and one-step variety of the base model, the droplet behind the blob, and its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from media.base_variety import (
    fixed_pattern_ratio,
    mean_pairwise_distance,
    prompt_seed_grid,
    source_frames,
    up_path_spike,
)
from media.embedding import get_text_embedder
from media.generator import GeneratorConfig, GeneratorLoadError, TinyDiffusionGenerator, config_for_checkpoint
from media.trends import DEFAULT_TOPICS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOPICS = list(DEFAULT_TOPICS)[:8]
CANDIDATE = "media/checkpoints/base_position.safetensors"  # trained with norm=position (its .json says how)


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    """64 one-step 64 px frames of the packaged base: 8 prompts x 8 seeds."""
    gen = TinyDiffusionGenerator(GeneratorConfig())
    return prompt_seed_grid(gen, get_text_embedder().embed, TOPICS, seeds=8, resolution=64)


def test_no_pixel_is_fixed_across_prompts_and_seeds(grid):
    # The measure. It passes even on the packaged base (0.66): the blob's colour varies a little with
    # the prompt. The droplet test below is the one that sees the blob.
    assert fixed_pattern_ratio(grid) >= 0.5


def test_the_measure_catches_a_fixed_blob(grid):
    blob = grid.copy()
    blob[..., 8:11, 23:26, :] = (255, 0, 255)  # a blob drawn the same in every frame
    assert fixed_pattern_ratio(blob) < 0.5


def test_the_blob_is_a_group_norm_droplet_and_position_norm_removes_it():
    embed = get_text_embedder().embed
    packaged = up_path_spike(TinyDiffusionGenerator(GeneratorConfig()), embed, TOPICS)
    candidate_gen = TinyDiffusionGenerator(config_for_checkpoint(CANDIDATE))
    candidate = up_path_spike(candidate_gen, embed, TOPICS)
    assert candidate_gen.config.norm == "position"
    assert packaged > 100, f"the packaged base's droplet: {packaged:.0f}x the median (measured ~450)"
    assert candidate < 20, f"position-normalised base: {candidate:.0f}x (measured ~6)"


@pytest.mark.xfail(
    strict=True,
    reason="issue 18 target not met yet: the packaged base's one-step frames are "
    "the blurry mean of a prompt's scenes (0.11-0.77 of the scenes' variety, bench/media.py quality)",
)
def test_one_step_frames_of_a_prompt_vary_with_the_seed(grid):
    short = []
    for k, topic in enumerate(TOPICS):
        generated, real = mean_pairwise_distance(grid[k]), mean_pairwise_distance(source_frames(topic, 8, 64))
        if generated < 0.5 * real:
            short.append(f"{topic}: {generated:.1f} vs scenes {real:.1f}")
    assert not short, "; ".join(short)


def test_a_checkpoint_of_another_architecture_is_one_clear_error():
    with pytest.raises(GeneratorLoadError, match="text_conditioning='embedding'.*norm='position'"):
        TinyDiffusionGenerator(GeneratorConfig(checkpoint=CANDIDATE))
    frame = TinyDiffusionGenerator(config_for_checkpoint(CANDIDATE)).generate(
        np.zeros((1, 384), np.float32), 16, 1, [torch.Generator()]
    )
    assert frame.shape == (1, 16, 16, 3)


def test_trainer_moves_weights_to_a_new_architecture_and_distills(tmp_path):
    from media.train_base import TrainError, train
    from tests.media.test_base_model import _args

    embed = get_text_embedder().embed
    train(_args(tmp_path / "a", 2), embed=embed)  # the default architecture
    new_arch = ["--text-conditioning", "embedding", "--norm", "position"]
    b = train(_args(tmp_path / "b", 2, *new_arch, "--init-from", str(tmp_path / "a" / "m.safetensors")), embed=embed)
    assert b["init_tensors_copied"] > 0 and b["norm"] == "position"  # convolutions copied, attention dropped
    teacher = str(tmp_path / "b" / "m.safetensors")
    c = train(_args(tmp_path / "c", 2, *new_arch, "--init-from", teacher, "--distill-from", teacher), embed=embed)
    assert c["distill"] == {"teacher": teacher, "steps": 4, "share": 0.5} and np.isfinite(c["final_loss"])
    with pytest.raises(TrainError, match="--distill-from"):  # a teacher of another architecture
        train(_args(tmp_path / "d", 1, "--distill-from", teacher), embed=embed)
    with pytest.raises(TrainError, match="no weights file"):
        train(_args(tmp_path / "e", 1, "--init-from", str(tmp_path / "missing.safetensors")), embed=embed)
