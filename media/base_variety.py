"""Issue 18's measures of the base model's one-step frames: no fixed pattern, and variety across seeds.

Why these: the former base drew the same multicoloured blob near row 9, column 24 of every 64 px frame (a
self-attention sink, see media.generator's `text_conditioning`) and one-step frames of one prompt were
nearly identical across seeds. Both show up in plain pixel statistics over a grid of prompts x seeds, so
the tests (tests/media/test_base_variety.py) and the bench (bench/media.py) share these functions.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from media.sources.synthetic import SyntheticScene


def prompt_seed_grid(generator, embed, prompts: list[str], seeds: int, resolution: int, steps: int = 1) -> np.ndarray:
    """Frames (P, S, R, R, 3) uint8: each prompt with noise seeds 0..S-1 (generated in batches of 16)."""
    texts = [p for p in prompts for _ in range(seeds)]
    cond = np.asarray(embed(texts), np.float32)
    gens = [torch.Generator().manual_seed(s) for _ in prompts for s in range(seeds)]
    out = [generator.generate(cond[i : i + 16], resolution, steps, gens[i : i + 16]) for i in range(0, len(texts), 16)]
    return np.concatenate(out).reshape(len(prompts), seeds, resolution, resolution, 3)


def across_frame_std(frames: np.ndarray) -> np.ndarray:
    """Per-pixel standard deviation over all frames (channels averaged): (R, R)."""
    flat = frames.reshape(-1, *frames.shape[-3:]).astype(np.float32)
    return flat.std(axis=0).mean(axis=-1)


def fixed_pattern_ratio(frames: np.ndarray) -> float:
    """min / median of the across-frame std: a spot every frame draws the same has a low minimum (issue's test)."""
    std = across_frame_std(frames)
    return float(std.min() / np.median(std))


def mean_pairwise_distance(frames: np.ndarray) -> float:
    """Mean absolute pixel difference (0..255) over all pairs of frames (N, R, R, 3)."""
    f = frames.astype(np.float32)
    return float(np.mean([np.abs(f[i] - f[j]).mean() for i, j in combinations(range(len(f)), 2)]))


def source_frames(topic: str, count: int, resolution: int, seed: int = 0) -> np.ndarray:
    """`count` frames of the topic's scene with different scene seeds at random times: its real variety."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [SyntheticScene(topic, 1000 + k).frame(float(rng.uniform(0, 3600)), resolution) for k in range(count)]
    )


def up_path_spike(generator, embed, prompts: list[str], resolution: int = 64) -> float:
    """Peak / median of the local high-pass of the last up block's batch-mean activation, at t=999.

    The "droplet" a normalisation over the whole image invites (media.position_norm): one fixed cell whose
    activation dwarfs the rest whatever the prompt and noise. Measured: ~500 for the packaged base.
    """
    from scipy.ndimage import uniform_filter

    from media.generator import call_unet
    from media.pixel_unshuffle import to_latent

    cond = torch.from_numpy(np.asarray(embed(prompts), np.float32))
    noise = torch.randn(len(prompts), 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    x = to_latent(noise, generator.config.space_to_depth)
    seen: list[torch.Tensor] = []
    hook = generator.unet.up_blocks[-1].register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        with torch.inference_mode():
            call_unet(generator.unet, x, torch.full((len(prompts),), 999), cond)
    finally:
        hook.remove()
    m = seen[0].mean(dim=0).numpy()
    hp = np.abs(m - uniform_filter(m, size=(1, 3, 3), mode="nearest")).mean(axis=0)
    return float(hp.max() / max(float(np.median(hp)), 1e-9))
