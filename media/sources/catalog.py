"""The configured sources as one catalog: built from config, refreshed over the network, looked up by id.

Why a catalog between config and the trend feed: a YouTube search is one config entry but many sources (the
live streams it finds, which come and go), and network refreshes must stay out of the season's round loop;
the feed only reads what the catalog last learned.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

from media.sources.base import Source, SyntheticSource, YoutubeVideoSource, file_source, url_source
from media.sources.config import (
    FileSourceConfig,
    SourceConfig,
    SyntheticSourceConfig,
    UrlSourceConfig,
    YoutubeSourceConfig,
)
from media.sources.errors import SourceError
from media.sources.youtube import discover

log = logging.getLogger(__name__)


def _video_key(page_url: str) -> str:
    """A short stable id part for a discovered page (YouTube's v= parameter when there is one)."""
    parts = urlsplit(page_url)
    v = parse_qs(parts.query).get("v", [""])[0] or parts.path.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_-]", "", v)[:24] or "video"


class YoutubeSearch:
    """One `{kind: youtube, query: ...}` entry: the live streams the search currently finds."""

    def __init__(self, cfg: YoutubeSourceConfig, base_id: str, discoverer=discover, resolver=None):
        self.cfg, self.base_id = cfg, base_id
        self._discover, self._resolver = discoverer, resolver
        self.children: dict[str, YoutubeVideoSource] = {}

    def refresh(self) -> None:
        urls = self._discover(self.cfg.query, self.cfg.max_results, self.cfg.open_timeout)
        keep: dict[str, YoutubeVideoSource] = {}
        for url in urls:
            child = self.children.get(url) or YoutubeVideoSource(
                f"{self.base_id}:{_video_key(url)}",
                url,
                self.cfg.topic,
                None,
                self.cfg.open_timeout,
                self.cfg.read_timeout,
                self._resolver,
            )
            try:
                child.refresh()
            except SourceError as exc:
                log.warning("%s", exc)
                continue
            keep[url] = child
        for url, child in self.children.items():
            if url not in keep:
                child.close()
        self.children = keep


class Catalog:
    def __init__(self, configs: list[SourceConfig], *, discoverer=discover, resolver=None):
        """Builds local sources at once: a missing file or folder raises SourceError naming the entry."""
        self.configs = list(configs)
        self._fixed: list[Source] = []
        self._searches: list[YoutubeSearch] = []
        self._refresh_due: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        seen: set[str] = set()
        for i, cfg in enumerate(self.configs):
            where = f"trends.sources[{i}]"
            sid = cfg.id or f"{cfg.kind}:src{i}"
            if sid in seen:
                raise SourceError(f"{where}.id: duplicate source id {sid!r}")
            seen.add(sid)
            if isinstance(cfg, SyntheticSourceConfig):
                self._fixed.append(SyntheticSource(sid, cfg.topic, cfg.title, cfg.seed))
            elif isinstance(cfg, FileSourceConfig):
                self._fixed.append(
                    file_source(
                        sid,
                        cfg.path,
                        cfg.topic,
                        cfg.title,
                        cfg.loop,
                        f"{where}.path",
                        cfg.open_timeout,
                        cfg.read_timeout,
                    )
                )
            elif isinstance(cfg, UrlSourceConfig):
                self._fixed.append(url_source(sid, cfg.url, cfg.topic, cfg.title, cfg.open_timeout, cfg.read_timeout))
            elif isinstance(cfg, YoutubeSourceConfig) and cfg.url:
                src = YoutubeVideoSource(
                    sid, cfg.url, cfg.topic, cfg.title, cfg.open_timeout, cfg.read_timeout, resolver
                )
                src.refresh_seconds = cfg.refresh_seconds
                self._fixed.append(src)
            else:
                self._searches.append(YoutubeSearch(cfg, sid, discoverer, resolver))

    # ------------------------------------------------------------------ reading
    def sources(self) -> list[Source]:
        """Every source that can be listed now (discovered streams once their metadata is known)."""
        with self._lock:
            out = list(self._fixed) + [c for s in self._searches for c in s.children.values()]
        return [s for s in out if s.ready]

    def get(self, source_id: str) -> Source | None:
        with self._lock:
            out = list(self._fixed) + [c for s in self._searches for c in s.children.values()]
        return next((s for s in out if s.id == source_id), None)

    @property
    def needs_network(self) -> bool:
        return bool(self._searches) or any(isinstance(s, YoutubeVideoSource) for s in self._fixed)

    # ------------------------------------------------------------------ network refresh
    def refresh(self, force: bool = False) -> list[str]:
        """Re-read yt-dlp metadata that is due (or all, with force). Returns one line per failure."""
        errors = []
        now = time.monotonic()
        items: list[tuple[int, object, float]] = []
        for s in self._fixed:
            if isinstance(s, YoutubeVideoSource):
                items.append((id(s), s, s.refresh_seconds))
        for s in self._searches:
            items.append((id(s), s, s.cfg.refresh_seconds))
        for key, obj, every in items:
            if not force and now < self._refresh_due.get(key, 0.0):
                continue
            self._refresh_due[key] = now + every
            try:
                obj.refresh()  # type: ignore[attr-defined]
            except SourceError as exc:
                errors.append(str(exc))
                log.warning("%s", exc)
        return errors

    def start_background_refresh(self, poll_seconds: float = 5.0) -> None:
        """Refresh network metadata in a daemon thread, so no round waits on yt-dlp."""
        if self._thread is not None or not self.needs_network:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(poll_seconds)

        self._thread = threading.Thread(target=loop, name="trend-sources-refresh", daemon=True)
        self._thread.start()

    def close_idle(self) -> None:
        for s in self.sources():
            s.close_idle()

    def close(self) -> None:
        self._stop.set()
        for s in self._fixed + [c for q in self._searches for c in q.children.values()]:
            s.close()
