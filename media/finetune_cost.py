"""What one runtime finetune step costs on the engine's device time line (media.finetune's jobs).

Why apart from the training code: this is scheduling arithmetic over a CostModel, read by the engine's queue
(media.finetune_queue) and the benchmarks; it needs no torch and changes when the device is re-measured, not
when the training recipe does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from media.cost_model import CostModel
from media.finetune import FinetuneError

if TYPE_CHECKING:
    from media.finetune import FinetuneJob

# Seconds of one finetune step / seconds of a one-step generation batch of the same size and resolution
# (CostModel.batch_seconds(batch, resolution, 1)). Backprop costs about two forwards for full finetuning
# (gradients of activations and of weights) plus AdamW over every weight; LoRA skips most weight gradients
# but still backpropagates through every layer. Measured with `bench/finetune.py --threads 1` (default
# GeneratorConfig, untrained, best of 5) on the project's 2-core CPU while other work loaded it (load 9-12):
#   res 32 batch 4: forward 0.032 s, LoRA step 0.137 s (4.3x), full step 0.134 s (4.2x)
#   res 32 batch 8: forward 0.047 s, LoRA step 0.140 s (3.0x), full step 0.199 s (4.2x)
#   res 64 batch 4: forward 0.071 s, LoRA step 0.221 s (3.1x), full step 0.353 s (5.0x)
#   res 64 batch 8: forward 0.184 s, LoRA step 0.562 s (3.1x), full step 1.40 s (7.6x, the noisiest point)
# The factors below are the typical values; small batches pay a fixed per-step overhead on top.
# The diffusers backend's LoRA job (media.finetune_sd) lands on the same LoRA factor: on random weights in the
# SD 2.1 / sd-turbo UNet shape (865M parameters, float32, 64 px, 2 threads, load ~5-8),
# `bench/finetune.py --sd --repeats 3`: batch 1 forward 1.37 s, LoRA step 4.26 s (3.1x); batch 4 forward
# 3.06 s, LoRA step 8.41 s (2.75x). Not yet measured on a GPU at 512 px.
DEFAULT_STEP_FACTOR = {"lora": 3.0, "full": 4.5}


class FinetuneCost(BaseModel):
    """Deterministic device seconds per finetune step, in units of the engine's generation CostModel.

    Turn-based seasons cannot charge wall-clock time (it would not replay), so a step costs
    factor[method] x cost.batch_seconds(batch, resolution, steps=1): the same device timeline as generation,
    and a CostModel calibrated on another device (a GPU) carries the finetune charge along with it.
    """

    model_config = ConfigDict(extra="forbid")

    lora_factor: float = Field(DEFAULT_STEP_FACTOR["lora"], gt=0)
    full_factor: float = Field(DEFAULT_STEP_FACTOR["full"], gt=0)

    def step_seconds(self, cost: CostModel, method: str, batch: int, resolution: int) -> float:
        if method not in ("lora", "full"):
            raise FinetuneError(f"finetune method must be 'lora' or 'full', got {method!r}")
        factor = self.lora_factor if method == "lora" else self.full_factor
        return factor * cost.batch_seconds(int(batch), int(resolution), 1)

    def job_step_seconds(self, cost: CostModel, job: FinetuneJob) -> float:
        """The charge for one step of this job (its batch is min(batch_size, frames captured))."""
        batch = min(job.config.batch_size, len(job.frames))
        return self.step_seconds(cost, job.config.method, batch, job.resolution)


def estimate_step_seconds(batch: int, resolution: int, method: str = "lora", cost: CostModel | None = None) -> float:
    """Seconds one finetune step takes on the device `cost` describes (default: this project's 2-core CPU)."""
    return FinetuneCost().step_seconds(cost or CostModel(), method, batch, resolution)
