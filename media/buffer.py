"""One stream's frame buffer and its exact content-positive accounting, on the stream's own time line.

Why a player model: the audience reacts to what a viewer would see (docs/facts.md: start-up delay and
rebuffering drive abandonment, Krishnan & Sitaraman 2012; Dobrian et al. 2011), so stalls are computed the
way a real player experiences them, exactly, from frame arrival times and the output fps:

* Output starts when the first frame arrives; that frame is shown at its arrival
  (start-up delay = first arrival - stream start). The next output tick is one frame period later.
* At each tick one frame leaves the buffer. If the buffer is empty at a tick a stall begins; it lasts until
  the next frame arrives, which is shown at its arrival, and ticks resume one period after it. So frames
  output never exceed frames generated.
* A frame arriving at exactly a tick's time is in the buffer before that tick is served.

Frames entering the buffer are of two kinds, counted apart: generated keyframes and interpolated in-betweens
(media.temporal; they arrive together with the keyframe that closes their interval, so several frames may
enter at one instant). Content-positive accounting counts both as entering: frames_output + level ==
frames_generated + frames_interpolated - (frames dropped from the buffer by set_capacity), so output never
exceeds what entered. (frames_dropped also counts frames the engine could not push at all.)

Memory is bounded by `capacity` frames: pushing into a full buffer is a caller bug and raises.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

OutputCallback = Callable[[np.ndarray], None]


class BufferFullError(RuntimeError):
    """A frame was pushed into a full buffer (the engine must skip full streams)."""


class StreamBuffer:
    """Bounded FIFO of frames plus the player model above. All times are engine seconds (absolute)."""

    def __init__(self, capacity: int, fps: float, start_time: float = 0.0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.capacity = int(capacity)
        self.fps = float(fps)
        self.start_time = float(start_time)
        self._frames: deque[np.ndarray] = deque()
        # Ticks are anchor + k / fps, so a long run does not accumulate float drift.
        self._anchor: float | None = None
        self._k = 0
        self.started = False
        self.stalled = False
        self._stall_start = 0.0
        self._accounted_until = 0.0  # stall time is accounted up to here
        self.last_stall_end: float | None = None
        self.startup_delay: float | None = None
        self.last_output: np.ndarray | None = None
        self.last_pushed: np.ndarray | None = None
        self.now = float(start_time)  # latest time this buffer has been advanced to
        # Totals since the stream started.
        self.frames_generated = 0  # keyframes from the generator
        self.frames_interpolated = 0  # in-betweens made from two keyframes
        self.frames_output = 0
        self.frames_dropped = 0
        self.stall_count = 0
        self.stall_seconds = 0.0
        # The current round.
        self.round_start = float(start_time)
        self.round_frames_generated = 0
        self.round_frames_interpolated = 0
        self.round_frames_output = 0
        self.round_stall_count = 0
        self.round_stall_seconds = 0.0
        self.round_stall_bins: list[float] = []

    # ----------------------------------------------------------------- views
    @property
    def level(self) -> int:
        return len(self._frames)

    @property
    def full(self) -> bool:
        return len(self._frames) >= self.capacity

    @property
    def room(self) -> int:
        """Frames that can still be pushed before the buffer is full."""
        return max(0, self.capacity - len(self._frames))

    @property
    def frames_entered(self) -> int:
        """Generated keyframes plus interpolated frames, since the stream started."""
        return self.frames_generated + self.frames_interpolated

    @property
    def ttcp(self) -> float | None:
        """Time from stream start until content-positive for good; None while stalled or not started."""
        if not self.started or self.stalled:
            return None
        if self.last_stall_end is None:
            return self.startup_delay
        return self.last_stall_end - self.start_time

    def next_tick(self) -> float | None:
        """Time of the next output tick, None before start and while stalled."""
        if self._anchor is None:
            return None
        return self._anchor + self._k / self.fps

    # -------------------------------------------------------------- settings
    def set_fps(self, fps: float) -> None:
        """Change the output rate from the next tick on (the already scheduled tick stays)."""
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if fps == self.fps:
            return
        if self._anchor is not None:
            self._anchor, self._k = self.next_tick(), 0
        self.fps = float(fps)

    def set_capacity(self, capacity: int) -> int:
        """Resize; if the buffer holds more than the new capacity the oldest frames are dropped (returned)."""
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        dropped = 0
        while len(self._frames) > self.capacity:
            self._frames.popleft()
            dropped += 1
        self.frames_dropped += dropped
        return dropped

    # ----------------------------------------------------------------- rounds
    def begin_round(self, t0: float, seconds: float) -> None:
        """Reset the per-round counters; stall seconds are binned per whole second from t0."""
        self.advance(t0)
        self.round_start = float(t0)
        self.round_frames_generated = 0
        self.round_frames_interpolated = 0
        self.round_frames_output = 0
        self.round_stall_count = 0
        self.round_stall_seconds = 0.0
        self.round_stall_bins = [0.0] * max(0, math.ceil(seconds))

    # ------------------------------------------------------------------ events
    def push(
        self, frame: np.ndarray, t: float, on_output: OutputCallback | None = None, interpolated: bool = False
    ) -> None:
        """A frame arrives at time t (ticks before t are served first): a generated keyframe, or an
        interpolated in-between (`interpolated=True`, counted apart)."""
        if t < self.now:
            raise ValueError(f"frame arrival {t} is before the buffer time {self.now}")
        self._serve_ticks(t, inclusive=False, on_output=on_output)
        self._accrue_stall(t)
        self.now = t
        if self.full:
            raise BufferFullError(f"buffer full ({self.capacity} frames): the engine must skip full streams")
        if interpolated:
            self.frames_interpolated += 1
            self.round_frames_interpolated += 1
        else:
            self.frames_generated += 1
            self.round_frames_generated += 1
        self.last_pushed = frame
        if not self.started:
            self.started = True
            self.startup_delay = t - self.start_time
            self._output(frame, t, on_output)
        elif self.stalled:
            self.stalled = False
            self.last_stall_end = t
            self._output(frame, t, on_output)
        else:
            self._frames.append(frame)

    def advance(self, t: float, on_output: OutputCallback | None = None) -> None:
        """Serve every output tick at or before t and account stall time up to t."""
        if t < self.now:
            return
        self._serve_ticks(t, inclusive=True, on_output=on_output)
        self._accrue_stall(t)
        self.now = t

    # ---------------------------------------------------------------- internals
    def _output(self, frame: np.ndarray, t: float, on_output: OutputCallback | None) -> None:
        """Show `frame` at time t, which restarts the tick grid at t."""
        self._anchor, self._k = t, 1
        self._emit(frame, on_output)

    def _emit(self, frame: np.ndarray, on_output: OutputCallback | None) -> None:
        self.frames_output += 1
        self.round_frames_output += 1
        self.last_output = frame
        if on_output is not None:
            on_output(frame)

    def _serve_ticks(self, t: float, inclusive: bool, on_output: OutputCallback | None) -> None:
        while self._anchor is not None:
            tick = self._anchor + self._k / self.fps
            if tick > t or (tick == t and not inclusive):
                return
            if self._frames:
                self._k += 1
                self._emit(self._frames.popleft(), on_output)
            else:
                self._anchor = None
                self.stalled = True
                self._stall_start = tick
                self._accounted_until = tick
                self.stall_count += 1
                if tick >= self.round_start:
                    self.round_stall_count += 1

    def _accrue_stall(self, t: float) -> None:
        if not self.stalled or t <= self._accounted_until:
            return
        a, b = self._accounted_until, t
        self._accounted_until = t
        self.stall_seconds += b - a
        rs = self.round_start
        if b > rs:
            self.round_stall_seconds += b - max(a, rs)
        bins = self.round_stall_bins
        for i in range(max(0, int(math.floor(a - rs))), len(bins)):
            lo, hi = max(a, rs + i), min(b, rs + i + 1)
            if lo >= b:
                break
            if hi > lo:
                bins[i] += hi - lo

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically: counters, times and the buffered frames."""
        scalars = {
            k: getattr(self, k)
            for k in (
                "capacity",
                "fps",
                "start_time",
                "_anchor",
                "_k",
                "started",
                "stalled",
                "_stall_start",
                "_accounted_until",
                "last_stall_end",
                "startup_delay",
                "now",
                "frames_generated",
                "frames_interpolated",
                "frames_output",
                "frames_dropped",
                "stall_count",
                "stall_seconds",
                "round_start",
                "round_frames_generated",
                "round_frames_interpolated",
                "round_frames_output",
                "round_stall_count",
                "round_stall_seconds",
            )
        }
        return {
            **scalars,
            "round_stall_bins": list(self.round_stall_bins),
            # A list, not one stacked array: frames of different resolutions may share the buffer.
            "frames": [f.copy() for f in self._frames],
            "last_output": None if self.last_output is None else self.last_output.copy(),
            "last_pushed": None if self.last_pushed is None else self.last_pushed.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            if k == "frames":
                if len(v) > state["capacity"]:
                    raise ValueError("state holds more frames than its capacity")
                self._frames = deque(np.array(f, dtype=np.uint8) for f in v)
            elif k == "round_stall_bins":
                self.round_stall_bins = [float(x) for x in v]
            elif k in ("last_output", "last_pushed"):
                setattr(self, k, None if v is None else np.array(v, dtype=np.uint8))
            elif k in self.__dict__:
                setattr(self, k, v)
            else:
                raise KeyError(f"unknown buffer state key {k!r}")
