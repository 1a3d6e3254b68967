"""One engine actor: a device, its generator and a StreamEngine batching the streams placed on it.

Why a thin shell around StreamEngine: the batching, buffers and reports are written once (media.engine); the
actor only adds what a remote process needs:
- settings arrive by value (the driver pushes each stream's current StreamSettings with every `advance`),
  since an actor cannot call back into the driver's StreamControl;
- frames for the broadcast are encoded here, by media.broadcast.stream.StreamWorker, into
  `<run dir>/streams/<slot>/`, so output frames never travel to the driver (the run dir must be shared
  storage when actors live on several machines);
- a restart is explicit: Ray re-runs __init__ after the actor died, and until the driver has restored it
  (`restore`: the last committed state plus the calls made since) every call raises ActorNotReady, so a
  fresh, empty engine can never answer as if it were the old one.

The class is plain Python; media.ray_engine wraps it with `ray.remote` (max_concurrency 2: the driver keeps at
most one call in flight per actor, plus `request_stop` while an `advance` runs).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from media.backends import GeneratorModelConfig, build_generator
from media.broadcast.config import BroadcastConfig
from media.broadcast.stream import StreamWorker
from media.cost_model import CostModel
from media.embedding import get_text_embedder
from media.engine import StreamEngine
from media.engine_streams import StreamReport
from media.settings import StreamSettings

log = logging.getLogger(__name__)


class ActorNotReady(RuntimeError):
    """The actor was restarted by Ray and has not been restored yet."""


@dataclass(frozen=True)
class ActorSpec:
    """Everything an actor needs to build its engine (Ray keeps it to re-run __init__ on a restart)."""

    model: GeneratorModelConfig
    device: str  # "cuda" when the actor reserved a GPU (Ray sets CUDA_VISIBLE_DEVICES), else the season's
    cost_model: CostModel
    timing: Literal["model", "wall"]
    buffer_seconds: float
    finetune_share: float
    threads: int
    broadcast: BroadcastConfig


class EngineActor:
    def __init__(self, spec: ActorSpec) -> None:
        import torch

        torch.set_num_threads(max(1, spec.threads))
        self.spec = spec
        embedder = get_text_embedder()
        generator = build_generator(spec.model, embedder, device=spec.device)
        self.engine = StreamEngine(
            generator,
            embedder,
            spec.cost_model,
            timing=spec.timing,
            buffer_seconds=spec.buffer_seconds,
            finetune_share=spec.finetune_share,
        )
        self.settings: dict[str, StreamSettings] = {}
        self.ready = False
        self.streams_dir: Path | None = None
        self.workers: dict[str, StreamWorker] = {}
        self._stop = threading.Event()

    # ---- life cycle -------------------------------------------------------------------------------------
    def pid(self) -> int:
        return os.getpid()

    def start(self, checkpoint_root: str | None, streams_dir: str | None) -> None:
        self._configure(checkpoint_root, streams_dir)
        self.ready = True

    def restore(
        self,
        checkpoint_root: str | None,
        streams_dir: str | None,
        state: dict[str, Any] | None,
        journal: list[tuple[str, tuple, dict]],
    ) -> None:
        """Become the actor of the last committed round (`state`, None before any), then replay the calls
        the driver made since (frames replayed are not broadcast again)."""
        self._configure(checkpoint_root, streams_dir)
        for sid in list(self.engine.stream_ids):
            self.engine.remove_stream(sid)
        self.settings.clear()
        if state is not None:
            for sid, s in state["streams"].items():
                self._add(sid, StreamSettings.model_validate(s["settings"]), int(s["seed"]))
            self.engine.load_state_dict(state)
        self.ready = True
        for name, args, kwargs in journal:
            if name == "advance":  # (seconds, settings, encode): these frames were broadcast already
                args = (*args[:2], False)
            getattr(self, name)(*args, **kwargs)

    def close(self) -> None:
        workers, self.workers = list(self.workers.values()), {}
        for w in workers:
            w.request_end()
        for w in workers:
            w.end()

    def request_stop(self) -> None:
        self._stop.set()

    def configure(self, checkpoint_root: str | None, streams_dir: str | None) -> None:
        """Where finished finetunes are saved and broadcast segments written (the season's run dir)."""
        self._check()
        self._configure(checkpoint_root, streams_dir)

    # ---- the engine's calls -----------------------------------------------------------------------------
    def add_stream(self, stream_id: str, settings: StreamSettings, seed: int) -> None:
        self._check()
        self._add(stream_id, settings, seed)

    def remove_stream(self, stream_id: str) -> None:
        self._check()
        self.engine.remove_stream(stream_id)
        self.settings.pop(stream_id, None)
        worker = self.workers.pop(stream_id, None)
        if worker is not None:
            worker.end()  # the playlist gets #EXT-X-ENDLIST

    def set_references(self, references: dict[str, np.ndarray]) -> None:
        self._check()
        self.engine.set_references(references)

    def finetune(self, stream_id: str, owner: str, frames: np.ndarray, prompt: str, **kwargs: Any) -> int:
        self._check()
        return self.engine.finetune(stream_id, owner, frames, prompt, **kwargs)

    def cancel_finetunes(self, stream_id: str) -> None:
        self._check()
        self.engine.cancel_finetunes(stream_id)

    def drain_finetune_events(self) -> list[dict[str, Any]]:
        self._check()
        return self.engine.drain_finetune_events()

    def inherit_finetune(self, parent_owner: str, child_stream: str) -> str | None:
        self._check()
        return self.engine.inherit_finetune(parent_owner, child_stream)

    def advance(
        self, seconds: float, settings: dict[str, StreamSettings], encode: bool
    ) -> tuple[float, dict[str, StreamReport]]:
        """The round on this device with the knobs the driver pushed; returns (engine time, reports)."""
        self._check()
        self._stop.clear()
        self.settings.update(settings)
        on_frame = self._on_frame if encode and self.streams_dir is not None else None
        reports = self.engine.advance(seconds, should_stop=self._stop.is_set, on_frame=on_frame)
        return self.engine.now, reports

    def state_dict(self) -> dict[str, Any]:
        self._check()
        return self.engine.state_dict()

    # ---- internals ----------------------------------------------------------------------------------------
    def _check(self) -> None:
        if not self.ready:
            raise ActorNotReady("engine actor restarted by Ray and not restored yet")

    def _configure(self, checkpoint_root: str | None, streams_dir: str | None) -> None:
        if checkpoint_root is not None:
            self.engine.set_checkpoint_root(checkpoint_root)
        self.streams_dir = None if streams_dir is None else Path(streams_dir)

    def _add(self, stream_id: str, settings: StreamSettings, seed: int) -> None:
        self.settings[stream_id] = settings
        self.engine.add_stream(stream_id, lambda: self.settings[stream_id], seed=seed)

    def _on_frame(self, stream_id: str, frame: np.ndarray) -> None:
        worker = self.workers.get(stream_id)
        if worker is None:
            assert self.streams_dir is not None
            worker = StreamWorker(
                stream_id, self.streams_dir / stream_id, self.spec.broadcast, self.spec.broadcast.rtmp.get(stream_id)
            )
            self.workers[stream_id] = worker
        worker.put(frame)
