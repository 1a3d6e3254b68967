"""What the stream engine keeps per stream, what it reports per stream, and how that state is saved.

Why apart from media.engine: the engine is the scheduler (which batch runs next, when its frames arrive); this
module is the data it schedules over. Each stream's resume format sits next to the fields it saves, so a field
added to EngineStream gets its state_dict entry in the same file (a resumed season must continue bit-exact).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from media.buffer import StreamBuffer
from media.embedding import Embedder
from media.frame_sample import FrameSample
from media.generator import FrameGenerator
from media.metrics import RoundMetrics
from media.settings import StreamSettings
from media.temporal import DriftGuard, PromptTransition

SettingsSource = Callable[[], StreamSettings]


def generator_seed(stream_seed: int, settings_seed: int) -> int:
    """The torch seed of a stream: its own seed mixed with the `seed` knob (changing the knob reseeds)."""
    return (int(stream_seed) * 1_000_003 + int(settings_seed)) % (2**63)


@dataclass
class StreamReport:
    """What one stream did in a round (round counters) and since it started (`*_total`).

    frames_generated counts keyframes from the generator, frames_interpolated the in-betweens made from
    them; both entered the buffer (content-positive = entered >= output, with no stall). keyframe_strength
    is the img2img strength of the stream's latest keyframe (1.0 = text-to-image; above the knob while
    the drift guard re-injects noise), drift_guard_fired_total the keyframes it raised, and
    transition_progress how far a prompt transition has travelled (None when none is running).
    """

    stream_id: str
    frames_generated: int
    frames_generated_total: int
    frames_output: int
    frames_output_total: int
    frames_dropped_total: int
    buffer_level: int
    buffer_capacity: int
    stall_count: int
    stall_count_total: int
    stall_seconds: float
    stall_seconds_total: float
    stall_seconds_per_second: list[float]
    startup_delay: float | None
    ttcp: float | None
    content_positive: bool
    metrics: dict[str, float]
    thumbnail: np.ndarray
    prompt_embedding: np.ndarray
    frame_sample: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1, 3), np.uint8))  # what the eye sees
    settings: dict[str, Any] = field(default_factory=dict)
    frames_interpolated: int = 0
    frames_interpolated_total: int = 0
    keyframe_strength: float | None = None
    drift_guard_fired_total: int = 0
    transition_progress: float | None = None
    model: str = "base"  # the finetuned checkpoint the stream samples from, or "base"
    finetune: dict[str, Any] | None = None  # progress of its queued finetune job, if any
    finetune_seconds: float = 0.0  # device seconds finetune steps took this round (all streams share them)


@dataclass
class EngineStream:
    """One stream inside the engine: its knobs, buffer, RNG and everything that shapes its future frames."""

    stream_id: str
    source: SettingsSource
    seed: int
    settings: StreamSettings
    buffer: StreamBuffer
    generator: torch.Generator
    settings_seed: int
    metrics: RoundMetrics = field(default_factory=RoundMetrics.sampled)
    sample: FrameSample = field(default_factory=FrameSample)
    guard: DriftGuard = field(default_factory=DriftGuard)
    prev_frame: np.ndarray | None = None  # the latest keyframe: img2img init and interpolation start
    transition: PromptTransition | None = None
    last_strength: float | None = None
    model: FrameGenerator | None = None  # None = the engine's base generator
    model_key: str = ""  # batch key part: "" for the base, the model id of a finetuned copy
    model_name: str | None = None  # its checkpoint, relative to the engine's checkpoint folder

    def use_model(self, model: FrameGenerator | None, name: str | None) -> None:
        """Sample from `model` (None: the engine's base) from the next batch on; it batches with its own kind."""
        from media.finetune import model_id

        self.model, self.model_name = model, name
        self.model_key = "" if model is None else model_id(model)

    def group_size(self) -> int:
        """Frames the stream's next keyframe brings into its buffer (in-betweens need a previous keyframe)."""
        return 1 if self.prev_frame is None else self.settings.interpolation

    def conditioning(self, encode: Callable[[str], np.ndarray], now: float) -> np.ndarray:
        """The stream's conditioning at engine time `now`: its prompt's, or the transition's blend."""
        target = encode(self.settings.prompt)
        if self.transition is None:
            return target
        if self.transition.weight(now) >= 1.0 or self.transition.start_cond.shape != target.shape:
            self.transition = None
            return target
        return self.transition.cond(target, now)

    def start_transition(self, new: StreamSettings, encode: Callable[[str], np.ndarray], now: float) -> None:
        """The prompt changed: travel from the conditioning in use now (mid-transition: the blend) to the new
        prompt's; a cut if transition_seconds is 0 or nothing was generated yet. The guard re-measures."""
        if self.prev_frame is not None and new.transition_seconds > 0:
            self.transition = PromptTransition(self.conditioning(encode, now), now, float(new.transition_seconds))
        else:
            self.transition = None
        self.guard.reset_reference()

    def report(
        self, now: float, embedder: Embedder, finetune: dict[str, Any] | None, finetune_seconds: float
    ) -> StreamReport:
        """The round's report at engine time `now`; `finetune` is its queued job's progress (the queue's)."""
        buf = self.buffer
        thumb = buf.last_output if buf.last_output is not None else buf.last_pushed
        if thumb is None:
            r = self.settings.resolution
            thumb = np.zeros((r, r, 3), dtype=np.uint8)
        tr = self.transition
        return StreamReport(
            stream_id=self.stream_id,
            frames_generated=buf.round_frames_generated,
            frames_generated_total=buf.frames_generated,
            frames_output=buf.round_frames_output,
            frames_output_total=buf.frames_output,
            frames_dropped_total=buf.frames_dropped,
            buffer_level=buf.level,
            buffer_capacity=buf.capacity,
            stall_count=buf.round_stall_count,
            stall_count_total=buf.stall_count,
            stall_seconds=buf.round_stall_seconds,
            stall_seconds_total=buf.stall_seconds,
            stall_seconds_per_second=list(buf.round_stall_bins),
            startup_delay=buf.startup_delay,
            ttcp=buf.ttcp,
            content_positive=(
                buf.started and not buf.stalled and buf.round_stall_count == 0 and buf.round_stall_seconds == 0
            ),
            metrics=self.metrics.result(),
            thumbnail=np.array(thumb),
            prompt_embedding=embedder.embed([self.settings.prompt])[0].astype(np.float32),
            frame_sample=self.sample.frames(),
            settings=self.settings.model_dump(),
            frames_interpolated=buf.round_frames_interpolated,
            frames_interpolated_total=buf.frames_interpolated,
            keyframe_strength=self.last_strength,
            drift_guard_fired_total=self.guard.fired_total,
            transition_progress=None if tr is None else tr.weight(now),
            model=self.model_name or "base",
            finetune=finetune,
            finetune_seconds=finetune_seconds,
        )

    def state_dict(self) -> dict[str, Any]:
        """Seeds, knobs, RNG, buffer, metrics, guard, previous keyframe, transition and model name (copies)."""
        return {
            "seed": self.seed,
            "settings_seed": self.settings_seed,
            "settings": self.settings.model_dump(),
            "generator_state": self.generator.get_state().numpy().copy(),
            "buffer": self.buffer.state_dict(),
            "metrics": self.metrics.state_dict(),
            "sample_seen": self.sample.seen,
            "guard": self.guard.state_dict(),
            "prev_frame": None if self.prev_frame is None else self.prev_frame.copy(),
            "transition": None if self.transition is None else self.transition.state_dict(),
            "last_strength": self.last_strength,
            "model_name": self.model_name,
        }

    def load_state_dict(self, s: dict[str, Any], references: dict[str, np.ndarray]) -> None:
        """Restore everything but the model (the engine loads the checkpoint named by s["model_name"])."""
        self.seed = int(s["seed"])
        self.settings_seed = int(s["settings_seed"])
        self.settings = StreamSettings.model_validate(s["settings"])
        self.generator.set_state(torch.from_numpy(np.asarray(s["generator_state"], dtype=np.uint8).copy()))
        self.buffer.load_state_dict(s["buffer"])
        self.metrics.load_state_dict(s["metrics"])
        self.metrics.references = references
        self.sample.seen = int(s.get("sample_seen", 0))
        self.guard.load_state_dict(s["guard"])
        self.prev_frame = None if s["prev_frame"] is None else np.array(s["prev_frame"], dtype=np.uint8)
        self.transition = PromptTransition.from_state(s["transition"])
        self.last_strength = s["last_strength"]


@dataclass
class PendingBatch:
    """A generated batch whose frames arrive at `end` (engine time): per stream, its in-betweens then its
    keyframe (the last frame of each group)."""

    ids: list[str]
    groups: list[list[np.ndarray]]
    end: float

    def state_dict(self) -> dict[str, Any]:
        return {"ids": list(self.ids), "groups": [[f.copy() for f in g] for g in self.groups], "end": self.end}

    @classmethod
    def from_state(cls, p: dict[str, Any] | None) -> PendingBatch | None:
        if p is None:
            return None
        return cls(list(p["ids"]), [[np.array(f, dtype=np.uint8) for f in g] for g in p["groups"]], p["end"])
