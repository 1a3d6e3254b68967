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
FORMER = "media/checkpoints/base_groupnorm.safetensors"  # the base before issue 18 (GroupNorm, cross-attention)
RESOLUTION = 128  # the default stream size (arena/configs/default.yaml)


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    """64 one-step frames of the packaged base at the default size: 8 prompts x 8 seeds."""
    gen = TinyDiffusionGenerator(GeneratorConfig())
    return prompt_seed_grid(gen, get_text_embedder().embed, TOPICS, seeds=8, resolution=RESOLUTION)


def test_no_pixel_is_fixed_across_prompts_and_seeds(grid):
    # The measure (packaged base: 0.58 at 128 px). The former base passed it too (0.66 at 64 px: the
    # blob's colour varies a little with the prompt); the droplet test below is the one that sees the blob.
    assert fixed_pattern_ratio(grid) >= 0.5


def test_the_measure_catches_a_fixed_blob(grid):
    blob = grid.copy()
    blob[..., 8:11, 23:26, :] = (255, 0, 255)  # a blob drawn the same in every frame
    assert fixed_pattern_ratio(blob) < 0.5


def test_the_blob_is_a_group_norm_droplet_and_position_norm_removes_it():
    embed = get_text_embedder().embed
    former_gen = TinyDiffusionGenerator(config_for_checkpoint(FORMER))
    former = up_path_spike(former_gen, embed, TOPICS)
    packaged_gen = TinyDiffusionGenerator(GeneratorConfig())
    packaged = up_path_spike(packaged_gen, embed, TOPICS)
    assert former_gen.config.norm == "group" and packaged_gen.config.norm == "position"
    assert former > 100, f"the former base's droplet: {former:.0f}x the median (measured ~430)"
    assert packaged < 20, f"the position-normalised packaged base: {packaged:.0f}x (measured ~7.5)"


def test_one_step_frames_of_a_prompt_vary_with_the_seed(grid):
    # The bar: at least half the variety of the topic's own scenes (packaged base at 128 px: 0.52-0.84;
    # the former base gave 0.11-0.77, the blurry mean of a prompt's scenes, before one-step distillation).
    short = []
    for k, topic in enumerate(TOPICS):
        generated = mean_pairwise_distance(grid[k])
        real = mean_pairwise_distance(source_frames(topic, 8, RESOLUTION))
        if generated < 0.5 * real:
            short.append(f"{topic}: {generated:.1f} vs scenes {real:.1f}")
    assert not short, "; ".join(short)


def test_a_checkpoint_of_another_architecture_is_one_clear_error():
    with pytest.raises(GeneratorLoadError, match="text_conditioning='cross_attention'.*norm='group'"):
        TinyDiffusionGenerator(GeneratorConfig(checkpoint=FORMER))
    frame = TinyDiffusionGenerator(config_for_checkpoint(FORMER)).generate(
        np.zeros((1, 384), np.float32), 16, 1, [torch.Generator()]
    )
    assert frame.shape == (1, 16, 16, 3)


def test_trainer_moves_weights_to_a_new_architecture_and_distills(tmp_path):
    from media.train_base import TrainError, train
    from tests.media.test_base_model import _args

    embed = get_text_embedder().embed
    former_arch = ["--text-conditioning", "cross_attention", "--norm", "group"]
    train(_args(tmp_path / "a", 2, *former_arch), embed=embed)
    b = train(_args(tmp_path / "b", 2, "--init-from", str(tmp_path / "a" / "m.safetensors")), embed=embed)
    assert b["init_tensors_copied"] > 0 and b["norm"] == "position"  # convolutions copied, attention dropped
    teacher = str(tmp_path / "b" / "m.safetensors")
    c = train(_args(tmp_path / "c", 2, "--init-from", teacher, "--distill-from", teacher), embed=embed)
    assert c["distill"] == {"teacher": teacher, "steps": 4, "share": 0.5} and np.isfinite(c["final_loss"])
    with pytest.raises(TrainError, match="--distill-from"):  # a teacher of another architecture
        train(_args(tmp_path / "d", 1, *former_arch, "--distill-from", teacher), embed=embed)
    with pytest.raises(TrainError, match="no weights file"):
        train(_args(tmp_path / "e", 1, "--init-from", str(tmp_path / "missing.safetensors")), embed=embed)
