"""Trend sources: things with an id, a title, a topic, maybe a real viewer count, and frames to sample.

Why lazy readers that stop when idle: frames are sampled rarely (a finetune request), while decoding a live
stream continuously would cost a share of a core per source; a reader starts on the first sample and is
closed by `close_idle` after a quiet minute.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from media.sources.errors import SourceError
from media.sources.frames import to_square
from media.sources.reader import FrameReader, StaticTarget, Target
from media.sources.synthetic import SyntheticScene
from media.sources.text import clean_title
from media.sources.youtube import YtdlpTarget

MIN_RES, MAX_RES, MAX_SAMPLES = 8, 1024, 1024
IDLE_SECONDS = 60.0


def check_sample_args(n: int, resolution: int) -> None:
    if not 0 <= int(n) <= MAX_SAMPLES:
        raise SourceError(f"sample_frames: n must be in [0, {MAX_SAMPLES}], got {n}")
    if not MIN_RES <= int(resolution) <= MAX_RES:
        raise SourceError(f"sample_frames: resolution must be in [{MIN_RES}, {MAX_RES}], got {resolution}")


class Source:
    kind = "base"

    def __init__(self, source_id: str, topic: str, title: str):
        self.id = source_id
        self.topic = clean_title(topic, 100)
        self._title = clean_title(title)

    @property
    def title(self) -> str:
        return self._title

    def viewers(self) -> int | None:
        """A real concurrent-viewer count, or None (the feed then simulates one)."""
        return None

    @property
    def ready(self) -> bool:
        """Listed in the feed (a discovered stream is listed once its metadata is known)."""
        return True

    def sample_frames(self, n: int, resolution: int) -> np.ndarray:
        raise NotImplementedError

    def refresh(self) -> None:
        """Re-read metadata over the network (titles, viewer counts); nothing for local sources."""

    def close_idle(self, now: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class SyntheticSource(Source):
    """A built-in procedural scene; successive samples continue its clock, so they are new frames."""

    kind = "synthetic"
    FPS = 8.0

    def __init__(self, source_id: str, topic: str, title: str | None = None, seed: int = 0):
        super().__init__(source_id, topic, title or f"LIVE: {topic}")
        self.scene = SyntheticScene(topic, seed)
        self.clock = 0.0
        self._lock = threading.Lock()

    def sample_frames(self, n: int, resolution: int) -> np.ndarray:
        check_sample_args(n, resolution)
        with self._lock:
            t0 = self.clock
            self.clock += n / self.FPS
        return self.scene.frames(t0, int(n), self.FPS, int(resolution))


class VideoSource(Source):
    """Frames decoded by PyAV from a file, a folder of files, a URL or a resolved yt-dlp target."""

    def __init__(
        self,
        source_id: str,
        topic: str,
        title: str,
        target: Target,
        *,
        kind: str,
        live: bool,
        loop: bool = True,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
    ):
        super().__init__(source_id, topic, title)
        self.kind = kind
        self.target = target
        self.live, self.loop = live, loop
        self.open_timeout, self.read_timeout = open_timeout, read_timeout
        self._reader: FrameReader | None = None
        self._lock = threading.Lock()
        self.last_used = 0.0

    def _get_reader(self) -> FrameReader:
        with self._lock:
            if self._reader is None or self._reader.error is not None or self._reader.finished:
                if self._reader is not None:
                    self._reader.close(0.1)
                self._reader = FrameReader(
                    self.target,
                    self.id,
                    live=self.live,
                    loop=self.loop,
                    open_timeout=self.open_timeout,
                    read_timeout=self.read_timeout,
                ).start()
            self.last_used = time.monotonic()
            return self._reader

    def sample_frames(self, n: int, resolution: int) -> np.ndarray:
        """n frames (n, R, R, 3) uint8; raises SourceError/SourceTimeout within a bounded time on a dead source."""
        check_sample_args(n, resolution)
        reader = self._get_reader()
        deadline = time.monotonic() + self.open_timeout + self.read_timeout * max(1, n)
        out = np.empty((int(n), int(resolution), int(resolution), 3), np.uint8)
        for i in range(int(n)):
            out[i] = to_square(reader.read(timeout=max(0.05, deadline - time.monotonic())), int(resolution))
        self.last_used = time.monotonic()
        return out

    def close_idle(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._reader is not None and now - self.last_used > IDLE_SECONDS:
                self._reader.close(0.1)
                self._reader = None

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


class YoutubeVideoSource(VideoSource):
    """One yt-dlp page: title and real viewer count from yt-dlp, frames from the resolved HLS manifest."""

    def __init__(
        self,
        source_id: str,
        page_url: str,
        topic: str | None,
        title: str | None,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
        resolver=None,
    ):
        target = YtdlpTarget(page_url, timeout=open_timeout, **({"resolver": resolver} if resolver else {}))
        super().__init__(
            source_id,
            topic or "",
            title or "",
            target,
            kind="youtube",
            live=True,
            open_timeout=open_timeout,
            read_timeout=read_timeout,
        )
        self.page_url = page_url
        self.refresh_seconds = 300.0
        self._fixed_title, self._fixed_topic = title, topic

    @property
    def ready(self) -> bool:
        return self.target.current is not None  # type: ignore[attr-defined]

    @property
    def title(self) -> str:
        cur = self.target.current  # type: ignore[attr-defined]
        return self._title or clean_title(cur.title if cur else self.page_url)

    def refresh(self) -> None:
        r = self.target.refresh()  # type: ignore[attr-defined]
        if not self._fixed_topic:
            self.topic = clean_title(r.title, 100)

    def viewers(self) -> int | None:
        cur = self.target.current  # type: ignore[attr-defined]
        return None if cur is None else cur.viewers


VIDEO_SUFFIXES = {".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".ts", ".flv", ".mpg", ".mpeg", ".gif", ".m3u8"}


def video_files(path: str, where: str) -> list[str]:
    """The file, or the folder's video files in name order. A missing path is one clear SourceError."""
    p = Path(path).expanduser()
    if p.is_file():
        return [str(p)]
    if p.is_dir():
        files = sorted(str(f) for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise SourceError(f"{where}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in folder {p}")
        return files
    raise SourceError(f"{where}: no such file or folder: {p}")


def file_source(
    source_id: str,
    path: str,
    topic: str | None,
    title: str | None,
    loop: bool,
    where: str,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
) -> VideoSource:
    files = video_files(path, where)
    name = Path(path).expanduser().stem or Path(path).name
    return VideoSource(
        source_id,
        topic or name,
        title or name,
        StaticTarget(files),
        kind="file",
        live=False,
        loop=loop,
        open_timeout=open_timeout,
        read_timeout=read_timeout,
    )


def url_source(
    source_id: str,
    url: str,
    topic: str | None,
    title: str | None,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
) -> VideoSource:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]  # never show credentials
    return VideoSource(
        source_id,
        topic or host,
        title or f"LIVE: {topic or host}",
        StaticTarget([url]),
        kind="url",
        live=True,
        open_timeout=open_timeout,
        read_timeout=read_timeout,
    )
