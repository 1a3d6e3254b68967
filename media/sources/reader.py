"""Background decoding of one video source with PyAV: a bounded queue, timeouts, reopen and re-resolve.

Why a thread: PyAV reads block (a dead stream can block forever, docs/facts.md). The caller only waits on a queue
with a timeout; the reader thread opens with `timeout=(open, read)` so even a peer that accepts and then says
nothing ends in an error. Live sources drop the oldest frame when the queue is full (frames stay fresh);
files wait for room (no decoding ahead of need). On end of stream a looping source reopens; on an error the
target is asked for a URL again, so a resolver (yt-dlp) can re-resolve an expired or 403ing manifest. After
`max_failures` failures in a row without a frame the reader is dead and `read` raises its error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Protocol

import numpy as np

from media.sources.errors import SourceError, SourceTimeout
from media.sources.frames import fit_within

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


class Target(Protocol):
    """Where the reader reads from. `url()` may do network work (resolvers) and raise SourceError."""

    def url(self) -> str: ...
    def should_reopen(self) -> bool: ...  # e.g. the signed manifest URL expires soon
    def invalidate(self) -> None: ...  # the URL failed (403, gone): resolve again next time


class StaticTarget:
    """A fixed URL or a cycle of file paths (a folder plays its files in turn)."""

    def __init__(self, urls: list[str]):
        if not urls:
            raise ValueError("StaticTarget needs at least one URL")
        self.urls = list(urls)
        self._i = -1

    def url(self) -> str:
        self._i = (self._i + 1) % len(self.urls)
        return self.urls[self._i]

    def should_reopen(self) -> bool:
        return False

    def invalidate(self) -> None:
        pass


class FrameReader:
    def __init__(
        self,
        target: Target,
        name: str,
        *,
        live: bool,
        loop: bool = True,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
        queue_size: int = 32,
        max_failures: int = 3,
        max_side: int = 512,
    ):
        self.target, self.name, self.live, self.loop = target, name, live, loop
        self.open_timeout, self.read_timeout = float(open_timeout), float(read_timeout)
        self.max_failures, self.max_side = max_failures, max_side
        self._queue: deque[np.ndarray] = deque()
        self._queue_size = queue_size
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: SourceError | None = None  # set when the reader gave up
        self.finished = False  # a non-looping file reached its end
        self.frames_decoded = 0
        self.frames_dropped = 0
        self.opens = 0
        self.reopens_for_expiry = 0

    # ------------------------------------------------------------------ caller side
    def start(self) -> FrameReader:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"source-{self.name}", daemon=True)
            self._thread.start()
        return self

    def read(self, timeout: float | None = None) -> np.ndarray:
        """The next frame (HxWx3 uint8). Raises SourceTimeout, or the reader's SourceError once it gave up."""
        self.start()
        timeout = self.open_timeout + self.read_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self.error is not None:
                    raise self.error
                if self.finished:
                    raise SourceError(f"source {self.name}: end of video")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceTimeout(f"source {self.name}: no frame within {timeout:g} s")
                self._cond.wait(min(left, 0.25))
            frame = self._queue.popleft()
            self._cond.notify_all()
            return frame

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)  # a read blocked in C ends at its own timeout; we do not wait for it

    # ------------------------------------------------------------------ reader thread
    def _put(self, frame: np.ndarray) -> None:
        with self._cond:
            if self.live:
                if len(self._queue) >= self._queue_size:
                    self._queue.popleft()
                    self.frames_dropped += 1
            else:
                while len(self._queue) >= self._queue_size and not self._stop.is_set():
                    self._cond.wait(0.25)
            self._queue.append(frame)
            self._cond.notify_all()

    def _decode(self, url: str) -> int:
        """Decode one opening of the target until its end; returns the number of frames read."""
        import av  # imported on first use: loading a season config should not need PyAV

        n = 0
        with av.open(url, timeout=(self.open_timeout, self.read_timeout)) as container:
            self.opens += 1
            if not container.streams.video:
                raise SourceError(f"source {self.name}: no video stream in {url}")
            stream = container.streams.video[0]
            size = None
            wall0 = time.monotonic()
            t0: float | None = None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    break
                if size is None:
                    size = fit_within(frame.width, frame.height, self.max_side)
                if self.live and frame.time is not None:
                    # Never faster than real time: a "live" URL that is really a VOD (or a live edge burst)
                    # would otherwise be decoded over and over at full CPU speed.
                    t0 = frame.time if t0 is None else t0
                    ahead = (frame.time - t0) - (time.monotonic() - wall0)
                    if ahead > 0.05 and self._stop.wait(min(ahead, 5.0)):
                        break
                self._put(frame.to_ndarray(width=size[0], height=size[1], format="rgb24"))
                n += 1
                self.frames_decoded += 1
                if self.target.should_reopen():
                    self.reopens_for_expiry += 1
                    self.target.invalidate()
                    break
        return n

    def _run(self) -> None:
        import av

        failures = 0
        last = ""
        while not self._stop.is_set():
            before = self.frames_decoded
            try:
                url = self.target.url()
                got = self._decode(url)
                if got:
                    failures = 0
                    if not self.live and not self.loop:
                        self.finished = True
                        break
                    continue  # end of a file or a finished playlist: go round again
                failures += 1
                last = "no frames"
            except SourceError as exc:
                failures += 1
                last = str(exc)
            except av.error.HTTPClientError as exc:  # 403/404/410...: a signed URL expired; resolve again
                self.target.invalidate()
                failures += 1
                last = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # network, decode, timeout (PyAV's ExitError), missing file
                failures += 1
                last = f"{type(exc).__name__}: {exc}"
            if self.frames_decoded > before:  # it played for a while before failing: a fresh start
                failures = 1
            if failures >= self.max_failures:
                self.error = SourceError(f"source {self.name}: gave up after {failures} failed attempts: {last}")
                log.warning("%s", self.error)
                break
            self._stop.wait(BACKOFF_SECONDS[min(failures - 1, len(BACKOFF_SECONDS) - 1)])
        with self._cond:
            self._cond.notify_all()
