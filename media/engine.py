"""The stream engine: many streams, one device, batched generation and exact buffer accounting.

Why this shape: the device generates sequentially, so streams compete for it. Streams whose settings share a
batch key (resolution, steps) share one batched forward pass, each with its own prompt and its own seeded
torch.Generator; groups take turns round-robin; a full buffer is skipped. Each batch costs engine time (from
the CostModel in "model" timing, so a season is reproducible from its seed; measured wall time in "wall"
timing, for live mode). Frames enter the buffers at the batch's end; in between, every buffer drains at its
own fps with the player model of media.buffer. The batch crossing a round's end finishes in the next round
(its frames arrive there): each round's report covers exactly [round start, round end].

Streams' knobs that are read here: prompt, steps, resolution, fps, seed. `strength`, `interpolation` and
`transition_seconds` belong to later media issues (img2img, frame interpolation, prompt transitions).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from media.buffer import StreamBuffer
from media.cost_model import CostModel
from media.embedding import Embedder
from media.generator import FrameGenerator
from media.metrics import RoundMetrics
from media.settings import StreamSettings

log = logging.getLogger(__name__)

SettingsSource = Callable[[], StreamSettings]
FrameCallback = Callable[[str, np.ndarray], None]


@dataclass
class StreamReport:
    """What one stream did in a round (round counters) and since it started (`*_total`)."""

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
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Stream:
    stream_id: str
    source: SettingsSource
    seed: int
    settings: StreamSettings
    buffer: StreamBuffer
    generator: torch.Generator
    settings_seed: int
    metrics: RoundMetrics = field(default_factory=RoundMetrics)


@dataclass
class _Batch:
    """A generated batch whose frames arrive at `end` (engine time)."""

    ids: list[str]
    frames: list[np.ndarray]
    end: float


def generator_seed(stream_seed: int, settings_seed: int) -> int:
    """The torch seed of a stream: its own seed mixed with the `seed` knob (changing the knob reseeds)."""
    return (int(stream_seed) * 1_000_003 + int(settings_seed)) % (2**63)


class StreamEngine:
    """Advances all streams on one engine time line. Thread-safe for add/remove while advancing."""

    def __init__(
        self,
        generator: FrameGenerator,
        embedder: Embedder,
        cost_model: CostModel | None = None,
        timing: Literal["model", "wall"] = "model",
        buffer_seconds: float = 2.0,
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
        self.now = 0.0
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.RLock()
        self._last_key: tuple[int, int] | None = None
        self._pending: _Batch | None = None
        self._round = (0.0, 0.0)
        self._wall_base = (0.0, time.perf_counter())
        # Where advance() spends wall time, so a benchmark can check engine overhead vs raw generation.
        self.profile = {"advance_seconds": 0.0, "generate_seconds": 0.0, "sleep_seconds": 0.0, "batches": 0}

    # ------------------------------------------------------------------ streams
    def capacity_for(self, fps: float) -> int:
        return max(2, math.ceil(self.buffer_seconds * fps))

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
            buf = StreamBuffer(self.capacity_for(settings.fps), settings.fps, start_time=self.now)
            buf.begin_round(*self._round)  # a stream added mid-round is binned on the round's seconds
            gen = torch.Generator().manual_seed(generator_seed(seed, settings.seed))
            self._streams[stream_id] = _Stream(stream_id, settings_source, int(seed), settings, buf, gen, settings.seed)

    def remove_stream(self, stream_id: str) -> None:
        """Stop a stream and free its buffer (its frames still in flight are discarded)."""
        with self._lock:
            if self._streams.pop(stream_id, None) is None:
                raise KeyError(f"unknown stream {stream_id!r}")

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
            group = self._next_group(streams)
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
    def _snapshot(self) -> list[_Stream]:
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

    def _callback(self, st: _Stream, on_frame: FrameCallback | None, cache: dict) -> Callable[[np.ndarray], None]:
        cb = cache.get(st.stream_id)
        if cb is None:
            metrics, sid = st.metrics, st.stream_id

            def cb(frame: np.ndarray) -> None:
                metrics.update(frame)
                if on_frame is not None:
                    on_frame(sid, frame)

            cache[st.stream_id] = cb
        return cb

    def _advance_all(self, t: float, on_frame: FrameCallback | None, callbacks: dict) -> None:
        for st in self._snapshot():
            st.buffer.advance(t, self._callback(st, on_frame, callbacks))

    def _refresh_settings(self, streams: list[_Stream]) -> None:
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
                st.buffer.set_capacity(self.capacity_for(new.fps))
            if new.seed != st.settings_seed:
                st.generator.manual_seed(generator_seed(st.seed, new.seed))
                st.settings_seed = new.seed
            st.settings = new

    def _next_group(self, streams: list[_Stream]) -> tuple[tuple[int, int], list[_Stream]] | None:
        """The next batch key after the last one served (sorted keys, wrapping), among non-full streams."""
        groups: dict[tuple[int, int], list[_Stream]] = {}
        for st in streams:
            if not st.buffer.full:
                groups.setdefault(st.settings.batch_key(), []).append(st)
        if not groups:
            return None
        keys = sorted(groups)
        later = [k for k in keys if self._last_key is None or k > self._last_key]
        key = later[0] if later else keys[0]
        self._last_key = key
        return key, groups[key]

    def _run_batch(self, key: tuple[int, int], streams: list[_Stream]) -> _Batch:
        resolution, steps = key
        emb = self.embedder.embed([st.settings.prompt for st in streams])
        t0 = time.perf_counter()
        frames = self.generator.generate(emb, resolution, steps, [st.generator for st in streams])
        self.profile["generate_seconds"] += time.perf_counter() - t0
        self.profile["batches"] += 1
        if self.timing == "model":
            end = self.now + self.cost_model.batch_seconds(len(streams), resolution, steps)
        else:
            end = max(self._clock(), self.now)
        # Copies, so one buffered frame does not keep its whole batch array alive.
        return _Batch([st.stream_id for st in streams], [np.array(f) for f in frames], end)

    def _deliver(self, batch: _Batch, on_frame: FrameCallback | None, callbacks: dict) -> None:
        self._pending = None
        with self._lock:
            targets = [(self._streams.get(sid), frame) for sid, frame in zip(batch.ids, batch.frames)]
        for st, frame in targets:
            if st is None:
                continue  # removed while its frame was being generated
            if st.buffer.full:  # only if its capacity shrank meanwhile
                st.buffer.advance(batch.end, self._callback(st, on_frame, callbacks))
                if st.buffer.full:
                    st.buffer.frames_dropped += 1
                    continue
            st.buffer.push(frame, batch.end, self._callback(st, on_frame, callbacks))
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

    def _report(self, st: _Stream) -> StreamReport:
        buf = st.buffer
        thumb = buf.last_output if buf.last_output is not None else buf.last_pushed
        if thumb is None:
            r = st.settings.resolution
            thumb = np.zeros((r, r, 3), dtype=np.uint8)
        return StreamReport(
            stream_id=st.stream_id,
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
            metrics=st.metrics.result(),
            thumbnail=np.array(thumb),
            prompt_embedding=self.embedder.embed([st.settings.prompt])[0].astype(np.float32),
            settings=st.settings.model_dump(),
        )

    # ------------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        """Engine time, round-robin position, the batch in flight and every stream's buffer and RNG state."""
        with self._lock:
            streams = {
                sid: {
                    "seed": st.seed,
                    "settings_seed": st.settings_seed,
                    "settings": st.settings.model_dump(),
                    "generator_state": st.generator.get_state().numpy().copy(),
                    "buffer": st.buffer.state_dict(),
                    "metrics": st.metrics.state_dict(),
                }
                for sid, st in self._streams.items()
            }
        pending = None
        if self._pending is not None:
            p = self._pending
            pending = {"ids": list(p.ids), "frames": [f.copy() for f in p.frames], "end": p.end}
        return {
            "now": self.now,
            "last_key": None if self._last_key is None else list(self._last_key),
            "round": list(self._round),
            "pending": pending,
            "streams": streams,
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
            self._last_key = None if state["last_key"] is None else tuple(state["last_key"])
            self._round = tuple(state["round"])
            p = state["pending"]
            self._pending = None if p is None else _Batch(list(p["ids"]), [np.array(f) for f in p["frames"]], p["end"])
            for sid, s in state["streams"].items():
                st = self._streams[sid]
                st.seed = int(s["seed"])
                st.settings_seed = int(s["settings_seed"])
                st.settings = StreamSettings.model_validate(s["settings"])
                st.generator.set_state(torch.from_numpy(np.asarray(s["generator_state"], dtype=np.uint8).copy()))
                st.buffer.load_state_dict(s["buffer"])
                st.metrics.load_state_dict(s["metrics"])
