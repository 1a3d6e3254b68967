"""Optional RTMP push of one stream, in its own thread.

Why its own thread and encoder: an RTMP connect or write can block for minutes on a dead peer (docs/facts.md), and
PyAV's output IO has no timeout. The HLS encoder only hands frames over (bounded queue, drop-oldest); if the
pusher makes no progress for `rtmp_timeout_seconds` it is marked stalled, gets no more frames and is abandoned
(a daemon thread) so neither generation nor HLS ever waits on it. A failed connect is retried with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from media.broadcast.config import BroadcastConfig
from media.broadcast.encoder import AUDIO_RATE, AvEncoder, open_flv

log = logging.getLogger(__name__)

QUEUE = 8
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)


class RtmpPusher:
    def __init__(self, stream_id: str, url: str, config: BroadcastConfig):
        self.stream_id, self.url, self.config = stream_id, url, config
        self._queue: deque[tuple[np.ndarray, int, bool]] = deque(maxlen=QUEUE)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.status = "connecting"  # connecting | live | retrying | stalled | ended
        self.error: str | None = None
        self.frames_sent = 0
        self.frames_dropped = 0
        self.connects = 0
        self._busy_since: float | None = None  # set while inside a PyAV call that may block
        # the HLS encoder's audio (the stream's voice track): (first sample, count) -> samples or None
        self.audio_source: Callable[[int, int], np.ndarray | None] | None = None
        self._thread = threading.Thread(target=self._run, name=f"rtmp-{stream_id}", daemon=True)
        self._thread.start()

    @property
    def stalled(self) -> bool:
        busy = self._busy_since
        return busy is not None and time.monotonic() - busy > self.config.rtmp_timeout_seconds

    def put(self, frame: np.ndarray, pts: int, keyframe: bool) -> None:
        """Never blocks. Frames are dropped while the pusher is stalled or (re)connecting."""
        if self._stop.is_set() or self.stalled:
            if self.stalled and self.status != "stalled":
                self.status = "stalled"
                self.error = f"no progress for {self.config.rtmp_timeout_seconds:g} s"
                log.error("RTMP push of stream %s stalled; giving up on it", self.stream_id)
            self.frames_dropped += 1
            return
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.frames_dropped += 1
            self._queue.append((frame, pts, keyframe))
            self._cond.notify()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)  # a thread blocked in C stays behind as a daemon; we do not wait for it

    def _next(self) -> tuple[np.ndarray, int, bool] | None:
        with self._cond:
            while not self._queue and not self._stop.is_set():
                self._cond.wait(0.5)
            return self._queue.popleft() if self._queue else None

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            item = self._next()
            if item is None:
                break
            enc: AvEncoder | None = None
            try:
                frame, pts0, _ = item
                self._busy_since = time.monotonic()
                w, h = self.config.output_size(frame.shape[1], frame.shape[0])
                enc = open_flv(self.url, w, h, self.config.fps, self.config.gop, self.config.scale_filter)
                self.connects += 1
                self.status, attempt = "live", 0
                pts_base = pts0
                source = self.audio_source
                if source is not None:  # this push starts at tick pts0: read the voice from that sample on
                    offset = int(round(pts0 * AUDIO_RATE / self.config.fps))
                    enc.audio_source = lambda first, n, src=source, off=offset: src(first + off, n)
                while item is not None:
                    frame, pts, key = item
                    self._busy_since = time.monotonic()
                    enc.encode(frame, pts - pts_base, keyframe=key or pts == pts_base)
                    self._busy_since = None
                    self.frames_sent += 1
                    item = self._next()
            except Exception as exc:
                self._busy_since = None
                self.status, self.error = "retrying", f"{type(exc).__name__}: {exc}"
                log.warning("RTMP push of stream %s failed (%s); retrying", self.stream_id, self.error)
            finally:
                if enc is not None:
                    try:
                        self._busy_since = time.monotonic()
                        enc.close()
                    except Exception:
                        pass
                    self._busy_since = None
            if self._stop.is_set():
                break
            self._stop.wait(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1
            with self._cond:
                self._queue.clear()
        if self.status != "stalled":
            self.status = "ended"

    def stats(self) -> dict:
        return {
            "status": self.status,
            "error": self.error,
            "frames_sent": self.frames_sent,
            "frames_dropped": self.frames_dropped,
            "connects": self.connects,
        }
