"""The stream engine: many streams, one device, batched generation and exact buffer accounting.

Over 400 lines on purpose: advance() and the steps it chooses between (a batch, a finetune step, a wait for
the next output tick, a delivery) all move the one engine clock; apart they would scatter that invariant. The
per-stream data, its report and its resume state live in media.engine_streams.

Why this shape: the device generates sequentially, so streams compete for it. Streams whose settings share a
batch key (resolution, steps) share one batched forward pass, each with its own prompt and its own seeded
torch.Generator; groups take turns round-robin; a full buffer is skipped. Each batch costs engine time (from
the CostModel in "model" timing, so a season is reproducible from its seed; measured wall time in "wall"
timing, for live mode). Frames enter the buffers at the batch's end; in between, every buffer drains at its
own fps with the player model of media.buffer. The batch crossing a round's end finishes in the next round
(its frames arrive there): each round's report covers exactly [round start, round end].

Temporal consistency (media.temporal): a stream's first keyframe is text-to-image; every later one is
img2img from its previous keyframe with its `strength` knob (raised by the drift guard while the picture
collapses toward a single colour). With a moving camera (media.camera) that previous keyframe is first
warped by the camera's motion over the stream time one keyframe covers, and the in-betweens follow the motion.
Conditioning comes from `generator.encode_prompts` (cached per prompt text, each prompt encoded alone so the
bits do not depend on which prompts were encoded together); a prompt change travels from the conditioning in
use to the new prompt's over `transition_seconds` of engine time (0 = cut). The MiniLM `embedder` gives the
report's prompt_embedding (a record of the intent; the audience sees frames through its eye,
`StreamReport.frame_sample`).

Interpolation: with `interpolation` = n, each keyframe brings n output frames: n - 1 cross-fades from the
previous keyframe, then itself. They can only exist once the keyframe does, so all n enter the buffer at the
batch's end; a stream is only batched when its buffer has room for all of them, and the buffer counts
in-betweens apart from generated keyframes (frames_interpolated) in the content-positive accounting.

Runtime finetuning (media.finetune_queue): a stream may have finetune jobs queued; their steps take turns with
generation batches on the same device time line (so they cost the streams' buffers), and a finished job swaps
the stream to its own finetuned model before its next batch. Batches are keyed by (model, resolution, steps):
streams on the same model share a forward pass, a finetuned stream gets its own.

Everything per stream that shapes future frames (previous keyframe, transition, guard, metrics history) is
in state_dict() (media.engine_streams.EngineStream.state_dict), so a resumed season continues bit-exact in
"model" timing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from media.buffer import StreamBuffer
from media.camera import apply_camera, camera_inbetweens, keyframe_seconds
from media.cost_model import CostModel
from media.embedding import Embedder
from media.engine_streams import EngineStream, PendingBatch, SettingsSource, StreamReport, generator_seed
from media.finetune_queue import FinetuneQueue
from media.generator import FrameGenerator
from media.metrics import check_references
from media.settings import StreamSettings
from media.temporal import (
    DriftGuard,
    DriftGuardConfig,
    colour_std,
    interpolate_keyframes,
    resize_frame,
    saturation_share,
)

log = logging.getLogger(__name__)

COND_CACHE_SIZE = 512  # prompts whose conditioning is kept (a season uses far fewer)

FrameCallback = Callable[[str, np.ndarray], None]


class StreamEngine:
    """Advances all streams on one engine time line. Thread-safe for add/remove while advancing."""

    def __init__(
        self,
        generator: FrameGenerator,
        embedder: Embedder,
        cost_model: CostModel | None = None,
        timing: Literal["model", "wall"] = "model",
        buffer_seconds: float = 2.0,
        drift_guard: DriftGuardConfig | None = None,
        checkpoint_dir: str | None = None,
        finetune_share: float = 0.5,
    ) -> None:
        if timing not in ("model", "wall"):
            raise ValueError(f"timing must be 'model' or 'wall', got {timing!r}")
        if buffer_seconds <= 0:
            raise ValueError(f"buffer_seconds must be > 0, got {buffer_seconds}")
        self.generator = generator
        self.embedder = embedder
        self.cost_model = cost_model or CostModel()
        self.timing = timing
        self.buffer_seconds = float(buffer_seconds)
        self.drift_guard = drift_guard or DriftGuardConfig()
        self._cond_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._references: dict[str, np.ndarray] = {}
        self.now = 0.0
        self._streams: dict[str, EngineStream] = {}
        self._lock = threading.RLock()
        self._last_key: tuple[str, int, int] | None = None
        self.finetunes = FinetuneQueue(generator, checkpoint_dir, share=finetune_share)
        self._round_finetune_seconds = 0.0
        self._pending: PendingBatch | None = None
        self._round = (0.0, 0.0)
        self._wall_base = (0.0, time.perf_counter())
        # Where advance() spends wall time, so a benchmark can check engine overhead vs raw generation.
        self.profile = {"advance_seconds": 0.0, "generate_seconds": 0.0, "sleep_seconds": 0.0, "batches": 0}

    # ------------------------------------------------------------------ streams
    def capacity_for(self, fps: float, interpolation: int = 1) -> int:
        """buffer_seconds of output, and room for two keyframes' groups of frames at least."""
        return max(2, math.ceil(self.buffer_seconds * fps), 2 * int(interpolation))

    def set_references(self, references: dict[str, np.ndarray]) -> None:
        """Reference scenes for the `dist_<key>` metrics: {name: feature centroid (28,)} (media.topic_features;
        media.metrics.centroids_from_frames makes them). Replaces the previous set; applies from now on."""
        refs = check_references(references)
        with self._lock:
            self._references = refs
            for st in self._streams.values():
                st.metrics.references = refs

    @property
    def stream_ids(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    def add_stream(self, stream_id: str, settings_source: SettingsSource, seed: int) -> None:
        """Start a stream now. `settings_source` is called before every batch (knob changes apply at once)."""
        settings = settings_source()
        if not isinstance(settings, StreamSettings):
            raise TypeError(f"settings_source of {stream_id!r} must return StreamSettings, got {type(settings)!r}")
        with self._lock:
            if stream_id in self._streams:
                raise ValueError(f"stream {stream_id!r} already exists")
            cap = self.capacity_for(settings.fps, settings.interpolation)
            buf = StreamBuffer(cap, settings.fps, start_time=self.now)
            buf.begin_round(*self._round)  # a stream added mid-round is binned on the round's seconds
            gen = torch.Generator().manual_seed(generator_seed(seed, settings.seed))
            st = EngineStream(stream_id, settings_source, int(seed), settings, buf, gen, settings.seed)
            st.guard = DriftGuard(self.drift_guard)
            st.metrics.references = self._references
            st.metrics.set_fps(settings.fps)
            st.sample.set_fps(settings.fps)
            self._streams[stream_id] = st

    def remove_stream(self, stream_id: str) -> None:
        """Stop a stream and free its buffer (its frames still in flight and its finetune jobs are discarded)."""
        with self._lock:
            if self._streams.pop(stream_id, None) is None:
                raise KeyError(f"unknown stream {stream_id!r}")
            self.finetunes.cancel(stream_id)

    def set_stream_model(self, stream_id: str, checkpoint: str | None) -> None:
        """Swap a stream to a finetuned checkpoint (None: back to the base) before its next batch."""
        model = None if checkpoint is None else self.finetunes.load(checkpoint)
        with self._lock:
            self._streams[stream_id].use_model(model, checkpoint)

    def finetune(
        self, stream_id: str, owner: str, frames: np.ndarray, prompt: str, *, steps: int, seed: int, **options: Any
    ) -> int:
        """Queue a finetune of the stream's own copy of the base model on captured `frames`, paired with the
        stream's prompt (so its output moves toward them). Returns the checkpoint number it will save as."""
        with self._lock:
            if stream_id not in self._streams:
                raise KeyError(f"unknown stream {stream_id!r}")
        cond = self._encode(prompt)
        return self.finetunes.submit(stream_id, owner, frames, cond, steps=steps, seed=seed, **options)

    # The finetune jobs' public face: the season asks the engine, never its queue.
    def set_checkpoint_root(self, root: str | Path) -> None:
        """Finished finetunes are saved under `root/<owner>/ft-<n>.safetensors`."""
        self.finetunes.checkpoint_root = Path(root)

    def cancel_finetunes(self, stream_id: str) -> None:
        """Drop a stream's queued and running finetune jobs (a relegated streamer's)."""
        self.finetunes.cancel(stream_id)

    def drain_finetune_events(self) -> list[dict[str, Any]]:
        """Finetunes finished (or failed) since the last drain, oldest first, for the event log."""
        return self.finetunes.drain_events()

    def inherit_finetune(self, parent_owner: str, child_stream: str) -> str | None:
        """PBT exploit copies weights too: the child starts on a copy of its parent's latest finetuned
        checkpoint. Returns the copy's name, or None when the parent has none."""
        name = self.finetunes.inherit(parent_owner, child_stream)
        if name is not None:
            self.set_stream_model(child_stream, name)
        return name

    # ------------------------------------------------------------------ advance
    def advance(
        self,
        seconds: float,
        should_stop: Callable[[], bool] | None = None,
        on_frame: FrameCallback | None = None,
    ) -> dict[str, StreamReport]:
        """Run every stream for `seconds` of engine time and report the round (see the module docstring)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        wall0 = time.perf_counter()
        start = self.now
        end = start + seconds
        self._round = (start, float(seconds))
        self._wall_base = (start, time.perf_counter())
        callbacks: dict[str, Callable[[np.ndarray], None]] = {}
        for st in self._snapshot():
            st.buffer.advance(start, self._callback(st, on_frame, callbacks))
            st.buffer.begin_round(start, seconds)
            st.metrics.reset(keep_previous=True)
            st.sample.reset()
        self._round_finetune_seconds = 0.0
        stopped = False
        while True:
            if self._pending is not None:
                if self._pending.end > end:
                    break  # the batch crossing the round end finishes in the next round
                self._deliver(self._pending, on_frame, callbacks)
                continue
            if self.now >= end:
                break
            if should_stop is not None and should_stop():
                stopped = True
                break
            streams = self._snapshot()
            self._refresh_settings(streams)
            if self.finetunes.due(idle=False):
                self._pending = self._run_finetune_step()
                continue
            group = self._next_group(streams)
            if group is None and self.finetunes.due(idle=True):
                self._pending = self._run_finetune_step()
                continue
            if group is None:
                if not self._wait_for_tick(streams, end, should_stop, on_frame, callbacks):
                    stopped = True
                    break
                continue
            self._pending = self._run_batch(*group)
        if not stopped:
            round_end = end
        elif self.timing == "wall":
            round_end = min(end, max(self.now, self._clock()))
        else:
            round_end = self.now
        self._advance_all(round_end, on_frame, callbacks)
        self.now = round_end
        self.profile["advance_seconds"] += time.perf_counter() - wall0
        return {st.stream_id: self._report(st) for st in self._snapshot()}

    # ---------------------------------------------------------------- internals
    def _snapshot(self) -> list[EngineStream]:
        with self._lock:
            return list(self._streams.values())

    def _clock(self) -> float:
        """Engine time in wall timing: the round's base plus real elapsed seconds."""
        base_now, base_wall = self._wall_base
        return base_now + (time.perf_counter() - base_wall)

    def _set_now(self, t: float) -> None:
        self.now = t
        if self.timing == "wall" and self._clock() < t:
            self._wall_base = (t, time.perf_counter())

    def _callback(self, st: EngineStream, on_frame: FrameCallback | None, cache: dict) -> Callable[[np.ndarray], None]:
        cb = cache.get(st.stream_id)
        if cb is None:
            metrics, sample, sid = st.metrics, st.sample, st.stream_id

            def cb(frame: np.ndarray) -> None:
                metrics.update(frame)
                sample.offer(frame)
                if on_frame is not None:
                    on_frame(sid, frame)

            cache[st.stream_id] = cb
        return cb

    def _advance_all(self, t: float, on_frame: FrameCallback | None, callbacks: dict) -> None:
        for st in self._snapshot():
            st.buffer.advance(t, self._callback(st, on_frame, callbacks))

    def _refresh_settings(self, streams: list[EngineStream]) -> None:
        """Read every stream's knobs; a failing source keeps the previous settings (a slow agent cannot crash us)."""
        for st in streams:
            try:
                new = st.source()
            except Exception:  # the source is user/agent code
                log.exception("settings source of stream %s failed; keeping its previous settings", st.stream_id)
                continue
            if not isinstance(new, StreamSettings):
                log.error("settings source of stream %s returned %r; keeping its previous settings", st.stream_id, new)
                continue
            if new.fps != st.buffer.fps:
                st.buffer.set_fps(new.fps)
            if new.fps != st.metrics.fps:
                st.metrics.set_fps(new.fps)  # metrics sample at most so many frames per stream second
                st.sample.set_fps(new.fps)
            cap = self.capacity_for(new.fps, new.interpolation)
            if cap != st.buffer.capacity:
                st.buffer.set_capacity(cap)
            if new.seed != st.settings_seed:
                st.generator.manual_seed(generator_seed(st.seed, new.seed))
                st.settings_seed = new.seed
            if new.prompt != st.settings.prompt:
                st.start_transition(new, self._encode, self.now)
            st.settings = new

    def _encode(self, prompt: str) -> np.ndarray:
        """The generator's conditioning of one prompt (LRU cache by text; encoded alone, see the docstring)."""
        cond = self._cond_cache.get(prompt)
        if cond is None:
            cond = np.array(self.generator.encode_prompts([prompt])[0], dtype=np.float32)
            self._cond_cache[prompt] = cond
            while len(self._cond_cache) > COND_CACHE_SIZE:
                self._cond_cache.popitem(last=False)
        else:
            self._cond_cache.move_to_end(prompt)
        return cond

    def _next_group(self, streams: list[EngineStream]) -> tuple[tuple[str, int, int], list[EngineStream]] | None:
        """The next batch key after the last one served (sorted keys, wrapping), among non-full streams."""
        groups: dict[tuple[str, int, int], list[EngineStream]] = {}
        for st in streams:
            if st.buffer.room >= st.group_size():
                groups.setdefault((st.model_key, *st.settings.batch_key()), []).append(st)
        if not groups:
            return None
        keys = sorted(groups)
        later = [k for k in keys if self._last_key is None or k > self._last_key]
        key = later[0] if later else keys[0]
        self._last_key = key
        return key, groups[key]

    def _run_finetune_step(self) -> PendingBatch:
        """One finetune step on the device; its time passes like a batch's, with no frames arriving."""
        seconds, finished = self.finetunes.step(self.cost_model, self.timing)
        self._round_finetune_seconds += seconds
        if finished is not None:
            model, name = self.finetunes.finish(finished)
            with self._lock:
                st = self._streams.get(finished.stream_id)
                if st is not None:
                    st.use_model(model, name)
        end = self.now + seconds if self.timing == "model" else max(self._clock(), self.now)
        return PendingBatch([], [], end)

    def _run_batch(self, key: tuple[str, int, int], streams: list[EngineStream]) -> PendingBatch:
        _, resolution, steps = key
        generator = streams[0].model or self.generator
        cond = np.stack([st.conditioning(self._encode, self.now) for st in streams])
        prevs = [None if st.prev_frame is None else resize_frame(st.prev_frame, resolution) for st in streams]
        strength = np.array(
            [1.0 if p is None else st.guard.strength(st.settings.strength) for st, p in zip(streams, prevs)]
        )
        init = None
        if any(p is not None for p in prevs):
            blank = np.zeros((resolution, resolution, 3), dtype=np.uint8)  # strength 1: never looked at
            init = np.stack([blank if p is None else p for p in prevs])
            # The camera moves each stream's init by its motion over the keyframe's stream time (still: untouched).
            seconds = [0.0 if p is None else keyframe_seconds(st.settings) for st, p in zip(streams, prevs)]
            init = apply_camera(init, [st.settings for st in streams], seconds)
        t0 = time.perf_counter()
        frames = generator.generate(
            cond,
            resolution,
            steps,
            [st.generator for st in streams],
            init=init,
            strength=None if init is None else strength,
        )
        self.profile["generate_seconds"] += time.perf_counter() - t0
        self.profile["batches"] += 1
        if self.timing == "model":
            end = self.now + self.cost_model.batch_seconds(len(streams), resolution, steps)
        else:
            end = max(self._clock(), self.now)
        self.finetunes.charge_generation(end - self.now)
        stds, sats = colour_std(frames), saturation_share(frames)
        groups = []
        for i, st in enumerate(streams):
            key_frame = np.array(frames[i])  # a copy: one buffered frame must not keep the batch alive
            if prevs[i] is not None and st.settings.camera_moving():
                groups.append(camera_inbetweens(prevs[i], key_frame, st.settings.interpolation, st.settings))
            else:
                groups.append(interpolate_keyframes(prevs[i], key_frame, st.settings.interpolation))
            st.guard.observe(float(stds[i]), float(sats[i]))
            st.prev_frame = key_frame
            st.last_strength = float(strength[i])
        return PendingBatch([st.stream_id for st in streams], groups, end)

    def _deliver(self, batch: PendingBatch, on_frame: FrameCallback | None, callbacks: dict) -> None:
        self._pending = None
        with self._lock:
            targets = [(self._streams.get(sid), group) for sid, group in zip(batch.ids, batch.groups)]
        for st, group in targets:
            if st is None:
                continue  # removed while its frame was being generated
            cb = self._callback(st, on_frame, callbacks)
            if st.buffer.room < len(group):  # only if its capacity shrank meanwhile
                st.buffer.advance(batch.end, cb)
                lost = max(0, len(group) - st.buffer.room)
                if lost:  # the oldest in-betweens go first; the keyframe is kept if anything is
                    st.buffer.frames_dropped += lost
                    group = group[lost:]
            for j, frame in enumerate(group):
                st.buffer.push(frame, batch.end, cb, interpolated=j < len(group) - 1)
        self._advance_all(batch.end, on_frame, callbacks)
        self._set_now(batch.end)

    def _wait_for_tick(self, streams, end, should_stop, on_frame, callbacks) -> bool:
        """All buffers are full: move time to the next output tick (sleeping in wall timing). False = stopped."""
        ticks = [t for st in streams if (t := st.buffer.next_tick()) is not None]
        target = min([*ticks, end])
        target = max(target, self.now)
        if self.timing == "wall":
            t0 = time.perf_counter()
            while (left := target - self._clock()) > 0:
                if should_stop is not None and should_stop():
                    self.profile["sleep_seconds"] += time.perf_counter() - t0
                    return False
                time.sleep(min(left, 0.05))
            self.profile["sleep_seconds"] += time.perf_counter() - t0
        self._advance_all(target, on_frame, callbacks)
        self._set_now(target)
        return True

    def _report(self, st: EngineStream) -> StreamReport:
        return st.report(self.now, self.embedder, self.finetunes.pending(st.stream_id), self._round_finetune_seconds)

    # One device in this process: nothing to restart, nothing to release (media.engine_protocol.Engine).
    def drain_fault_events(self) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        """Engine time, round-robin position, the batch in flight and every stream's buffer and RNG state."""
        with self._lock:
            streams = {sid: st.state_dict() for sid, st in self._streams.items()}
        pending = None if self._pending is None else self._pending.state_dict()
        return {
            "now": self.now,
            "last_key": None if self._last_key is None else list(self._last_key),
            "round": list(self._round),
            "pending": pending,
            "streams": streams,
            "references": {k: v.copy() for k, v in self._references.items()},
            "finetunes": self.finetunes.state_dict(),
            "round_finetune_seconds": self._round_finetune_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state. The same streams must have been added first (their settings sources are code)."""
        with self._lock:
            have, want = set(self._streams), set(state["streams"])
            if have != want:
                raise ValueError(
                    f"engine streams do not match the saved state: missing {sorted(want - have)}, "
                    f"extra {sorted(have - want)}"
                )
            self.now = float(state["now"])
            key = state["last_key"]
            self._last_key = None if key is None else tuple(([""] if len(key) == 2 else []) + list(key))
            self._round = tuple(state["round"])
            self._pending = PendingBatch.from_state(state["pending"])
            self._references = {k: np.array(v, dtype=np.float64) for k, v in state.get("references", {}).items()}
            for sid, s in state["streams"].items():
                st = self._streams[sid]
                st.load_state_dict(s, self._references)
                name = s.get("model_name")
                st.use_model(None if name is None else self.finetunes.load(name), name)
            if "finetunes" in state:
                self.finetunes.load_state_dict(state["finetunes"])
            self._round_finetune_seconds = float(state.get("round_finetune_seconds", 0.0))
