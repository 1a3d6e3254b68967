"""Finetune jobs waiting for device time, their share of it, and what happens when one finishes.

Why a queue inside the engine: generation and finetuning run on the same device, so a finetune step is time
the streams' buffers drain without new frames. The engine asks `due()` before every batch: a step runs when
the device is idle (every buffer full) or when finetuning has had less than `share` of the device time since
the first job arrived. Each step is charged on the engine's time line (FinetuneCost in model timing, so a
turn-based season replays; measured seconds in wall timing). One job at a time, first come first served.

When a job finishes, its adapter is saved as `<checkpoint_root>/<owner>/ft-<n>.safetensors` (n counted here,
so a resumed season writes the same names) and the stream swaps to the finetuned model before its next batch.
Everything that shapes the future (jobs in progress, counters, device seconds) is in state_dict().
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media.cost_model import CostModel
from media.finetune import FinetuneError, FinetuneJob, check_base, job_from_state, new_job
from media.finetune_checkpoints import CheckpointDir, load_finetuned_generator, save_adapter
from media.finetune_cost import FinetuneCost

log = logging.getLogger(__name__)

DEFAULT_SHARE = 0.5  # of device time while jobs wait: finetuning halves generation, a visible price


@dataclass
class QueuedJob:
    stream_id: str
    owner: str  # checkpoint folder (the streamer's stable name, not its slot)
    number: int  # n in ft-<n>.safetensors
    job: FinetuneJob


class FinetuneQueue:
    def __init__(
        self,
        base: Any,
        checkpoint_root: str | Path | None = None,
        share: float = DEFAULT_SHARE,
        cost: FinetuneCost | None = None,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"finetune share must be in (0, 1], got {share}")
        self.base = base
        self.checkpoint_root = None if checkpoint_root is None else Path(checkpoint_root)
        self.share = float(share)
        self.cost = cost or FinetuneCost()
        self.jobs: list[QueuedJob] = []
        self.counts: dict[str, int] = {}  # owner -> checkpoints numbered so far
        self.device = {"generate": 0.0, "finetune": 0.0}
        self.events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        stream_id: str,
        owner: str,
        frames: np.ndarray,
        cond: np.ndarray | str,
        *,
        steps: int,
        seed: int,
        **options: Any,
    ) -> int:
        """Queue a job on `frames` (embedded or Stable Diffusion LoRA, by the base's backend); bad arguments or a
        backend that cannot finetune raise FinetuneError."""
        base = check_base(self.base)
        if self.checkpoint_root is not None:
            CheckpointDir(self.checkpoint_root).name(owner, 1)  # validates the folder name now
        job = new_job(base, frames, cond, steps=steps, seed=seed, **options)
        number = self.counts.get(owner, 0) + 1
        self.counts[owner] = number
        self.jobs.append(QueuedJob(stream_id, owner, number, job))
        return number

    def cancel(self, stream_id: str) -> None:
        self.jobs = [q for q in self.jobs if q.stream_id != stream_id]

    def pending(self, stream_id: str) -> dict[str, Any] | None:
        """Progress of the stream's first queued job (for the round report)."""
        for q in self.jobs:
            if q.stream_id == stream_id:
                recent = q.job.losses[-5:]
                return {
                    "steps_done": q.job.steps_done,
                    "steps": q.job.config.steps,
                    "number": q.number,
                    "loss": float(np.mean(recent)) if recent else None,
                    "source_id": q.job.config.source_id,
                }
        return None

    # ---------------------------------------------------------------- device
    def due(self, idle: bool) -> bool:
        if not self.jobs:
            return False
        if idle:
            return True
        total = self.device["generate"] + self.device["finetune"]
        return self.device["finetune"] < self.share * total

    def charge_generation(self, seconds: float) -> None:
        if self.jobs:  # the share is of the time while jobs wait, not of the whole season
            self.device["generate"] += seconds

    def step(self, cost_model: CostModel, timing: str) -> tuple[float, QueuedJob | None]:
        """One optimiser step of the first job: (device seconds, the job if it just finished)."""
        q = self.jobs[0]
        t0 = time.perf_counter()
        q.job.step()
        seconds = self.cost.job_step_seconds(cost_model, q.job) if timing == "model" else time.perf_counter() - t0
        self.device["finetune"] += seconds
        if not q.job.done:
            return seconds, None
        self.jobs.pop(0)
        if not self.jobs:
            self.device = {"generate": 0.0, "finetune": 0.0}
        return seconds, q

    def finish(self, q: QueuedJob) -> tuple[Any, str | None]:
        """Save the finished job's adapter (when there is a checkpoint folder) and hand back its generator."""
        name = None
        if self.checkpoint_root is not None:
            name = f"{q.owner}/ft-{q.number}.safetensors"
            save_adapter(q.job, self.checkpoint_root, name)
        meta = q.job.metadata()
        self.events.append(
            {
                "kind": "finetune_done",
                "stream_id": q.stream_id,
                "owner": q.owner,
                "checkpoint": name,
                "steps": meta["steps_done"],
                "loss": meta["loss"],
                "source_id": meta["source_id"],
                "method": meta["method"],
            }
        )
        return q.job.export_generator(), name

    def load(self, name: str) -> Any:
        """A finetuned generator from a checkpoint (resume, or a child inheriting its parent's)."""
        if self.checkpoint_root is None:
            raise FinetuneError("this engine has no checkpoint folder to load finetuned models from")
        return load_finetuned_generator(check_base(self.base), self.checkpoint_root, name)

    def inherit(self, parent_owner: str, child_owner: str) -> str | None:
        """PBT exploit: the child's first checkpoint is a copy of the parent's latest (None if it has none)."""
        if self.checkpoint_root is None:
            return None
        folder = CheckpointDir(self.checkpoint_root)
        name = folder.inherit(parent_owner, child_owner)
        if name is not None:  # later finetunes of the child number after the inherited file
            self.counts[child_owner] = max(self.counts.get(child_owner, 0), folder.numbers(child_owner)[-1])
        return name

    def drain_events(self) -> list[dict[str, Any]]:
        out, self.events = self.events, []
        return out

    # ---------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        return {
            "jobs": [
                {"stream_id": q.stream_id, "owner": q.owner, "number": q.number, "job": q.job.state_dict()}
                for q in self.jobs
            ],
            "counts": dict(self.counts),
            "device": dict(self.device),
            "events": list(self.events),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.jobs = [
            QueuedJob(
                j["stream_id"],
                j["owner"],
                int(j["number"]),
                job_from_state(self.base, j["job"]),
            )
            for j in state["jobs"]
        ]
        self.counts = {k: int(v) for k, v in state["counts"].items()}
        self.device = {k: float(v) for k, v in state["device"].items()}
        self.events = list(state.get("events", []))
