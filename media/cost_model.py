"""How much stream time a generation batch costs in the engine's deterministic "model" timing mode.

Why: turn-based seasons must be reproducible from their seed, so stream time cannot come from the wall
clock. Instead each batch costs steps * (fixed cost of one UNet call + per-sample cost scaled by pixel count),
with numbers calibrated once on real hardware so that the simulated device is about as fast as the real one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from media.generator import FrameGenerator
from media.settings import StreamSettings

# Defaults measured on the project's 2-core CPU machine (torch 2.13 CPU, 2 threads, the default GeneratorConfig =
# the packaged base of issue 18: 0.68M parameters, attention-free, space-to-depth x2, through ONNX Runtime, DDIM),
# three runs on a quiet machine of
#   python -c "from media.generator import *; from media.embedding import get_text_embedder; \
#              from media.cost_model import calibrate; \
#              print(calibrate(TinyDiffusionGenerator(GeneratorConfig(), get_text_embedder()), resolution=128))"
# gave seconds_per_call 0.0048..0.0070 and seconds_per_sample 0.0011..0.0018 (per 64x64 sample; at 64 px:
# 0.0014..0.0020): about 190 samples/s at 128 px, batch 6, 1 step. The previous defaults (0.006, 0.004)
# described the former base in eager PyTorch at 64 px, about 3x slower per pixel.
DEFAULT_SECONDS_PER_CALL = 0.006
DEFAULT_SECONDS_PER_SAMPLE = 0.0014


class CostModel(BaseModel):
    """Stream seconds per batch: steps * (seconds_per_call + batch * seconds_per_sample * (resolution/64)^2)."""

    model_config = ConfigDict(extra="forbid")

    seconds_per_call: float = Field(DEFAULT_SECONDS_PER_CALL, ge=0)
    seconds_per_sample: float = Field(DEFAULT_SECONDS_PER_SAMPLE, gt=0)

    def batch_seconds(self, batch: int, resolution: int, steps: int) -> float:
        return steps * (self.seconds_per_call + batch * self.seconds_per_sample * (resolution / 64) ** 2)

    def load(self, streams: Sequence[StreamSettings]) -> float:
        """Device seconds per stream second the streams' settings need, when streams sharing a batch key
        share forward passes: above 1.0 the device cannot keep up and buffers drain (stalls follow)."""
        groups: dict[tuple[int, int], list[StreamSettings]] = {}
        for st in streams:
            groups.setdefault(st.batch_key(), []).append(st)
        total = 0.0
        for (resolution, steps), members in groups.items():
            rate = sum(m.fps / m.interpolation for m in members)  # keyframes per second the group needs
            per_call = self.seconds_per_call / len(members)  # one call serves a keyframe of every member
            total += rate * steps * (per_call + self.seconds_per_sample * (resolution / 64) ** 2)
        return total


def _time_generate(generator: FrameGenerator, batch: int, resolution: int, steps: int, repeats: int) -> float:
    # The backend's own conditioning (MiniLM rows for the embedded model, CLIP states for Stable Diffusion).
    cond = np.asarray(generator.encode_prompts(["a calibration pattern"]), dtype=np.float32)
    emb = np.repeat(cond, batch, axis=0)
    times = []
    for r in range(repeats):
        gens = [torch.Generator().manual_seed(r * 1000 + i) for i in range(batch)]
        t0 = time.perf_counter()
        generator.generate(emb, resolution, steps, gens)
        times.append(time.perf_counter() - t0)
    return min(times)  # the minimum is the least disturbed by other work on the machine


def calibrate(
    generator: FrameGenerator,
    resolution: int = 64,
    steps: int = 2,
    batches: tuple[int, int] = (1, 8),
    repeats: int = 3,
) -> CostModel:
    """Time real generate() calls at two batch sizes and fit the two numbers (a few seconds on a CPU)."""
    small, large = batches
    if not 0 < small < large:
        raise ValueError(f"need two increasing batch sizes, got {batches}")
    _time_generate(generator, small, resolution, 1, 1)  # warm-up: first calls allocate
    t_small = _time_generate(generator, small, resolution, steps, repeats) / steps
    t_large = _time_generate(generator, large, resolution, steps, repeats) / steps
    scale = (resolution / 64) ** 2
    per_sample = max((t_large - t_small) / (large - small), 1e-6)
    per_call = max(t_small - small * per_sample, 0.0)
    return CostModel(seconds_per_call=per_call, seconds_per_sample=per_sample / scale)
