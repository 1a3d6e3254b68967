"""YouTube live (and any page yt-dlp understands) through yt-dlp's Python API.

Why re-resolving: YouTube's HLS manifest URLs are signed and expire (an `expire` epoch in the URL; afterwards
they answer 403). `YtdlpTarget` resolves a page URL to an HLS manifest, reopens shortly before the expiry and
resolves again whenever the reader reports a failure. Discovery uses YouTube's search with the "Live" filter.
All titles are untrusted text and are cleaned before anyone sees them. Nothing here runs in the default
arena (synthetic scenes need no network); tests drive yt-dlp's generic extractor against a local HLS server.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote_plus

from media.sources.errors import SourceError
from media.sources.text import clean_title

log = logging.getLogger(__name__)

# YouTube's search filter "Live" (sp=EgJAAQ==), URL-encoded twice as in YouTube's own links.
LIVE_SEARCH = "https://www.youtube.com/results?search_query={q}&sp=EgJAAQ%253D%253D"
# Small HLS renditions are enough for sampling 64-256 px frames and cost far less to decode.
FORMAT = "best[protocol^=m3u8][height<=480]/best[protocol^=m3u8]/best[height<=480]/best"
EXPIRE_RE = re.compile(r"(?:/expire/|[?&]expire=)(\d{9,11})")
EXPIRY_MARGIN_SECONDS = 60.0


class _Quiet:
    """yt-dlp logger that keeps its chatter out of the arena's terminal."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


def ydl_options(timeout: float, **extra) -> dict:
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "skip_download": True,
        "noplaylist": True,
        "socket_timeout": timeout,
        "logger": _Quiet(),
        "cachedir": False,
        "extractor_retries": 1,
        "format": FORMAT,
        **extra,
    }


@dataclass
class Resolved:
    page_url: str
    stream_url: str
    title: str
    video_id: str
    viewers: int | None  # yt-dlp's concurrent_view_count for live streams, when it reports one
    is_live: bool | None
    expires_at: float | None  # epoch seconds


def expiry_of(url: str) -> float | None:
    m = EXPIRE_RE.search(url)
    return float(m.group(1)) if m else None


def resolve(page_url: str, timeout: float = 15.0) -> Resolved:
    """Page URL -> playable (HLS) URL and metadata. Raises SourceError with one line."""
    import yt_dlp  # imported here: only sources of kind youtube need it

    try:
        with yt_dlp.YoutubeDL(ydl_options(timeout)) as ydl:
            info = ydl.extract_info(page_url, download=False)
    except Exception as exc:  # yt-dlp raises DownloadError/ExtractorError with multi-line text
        raise SourceError(f"youtube source {page_url}: cannot resolve: {exc}") from None
    if info is None:
        raise SourceError(f"youtube source {page_url}: yt-dlp found nothing")
    if info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if e]
        if not entries:
            raise SourceError(f"youtube source {page_url}: no playable entry")
        info = entries[0]
    stream_url = info.get("url") or info.get("manifest_url")
    if not stream_url:
        raise SourceError(f"youtube source {page_url}: no stream URL in yt-dlp's answer")
    viewers = info.get("concurrent_view_count")
    return Resolved(
        page_url=page_url,
        stream_url=stream_url,
        title=clean_title(info.get("title") or info.get("id") or page_url),
        video_id=re.sub(r"[^A-Za-z0-9_-]", "", str(info.get("id") or ""))[:32] or "video",
        viewers=int(viewers) if isinstance(viewers, (int, float)) and viewers >= 0 else None,
        is_live=info.get("is_live"),
        expires_at=expiry_of(stream_url),
    )


def discover(query: str, max_results: int, timeout: float = 15.0) -> list[str]:
    """Page URLs of live streams matching `query` (YouTube search, Live filter)."""
    import yt_dlp

    url = LIVE_SEARCH.format(q=quote_plus(query))
    opts = ydl_options(timeout, extract_flat="in_playlist", playlistend=max_results, noplaylist=False)
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=False)
    except Exception as exc:
        raise SourceError(f"youtube search {query!r}: {exc}") from None
    urls = []
    for e in (info or {}).get("entries") or []:
        if not e or e.get("live_status") in ("was_live", "not_live", "post_live"):
            continue
        u = e.get("url") or (f"https://www.youtube.com/watch?v={e['id']}" if e.get("id") else None)
        if u:
            urls.append(u)
    return urls[:max_results]


class YtdlpTarget:
    """A reader Target for one page: resolves lazily, reopens before expiry, re-resolves after a failure."""

    def __init__(self, page_url: str, timeout: float = 15.0, resolver=resolve, clock=time.time):
        self.page_url, self.timeout = page_url, timeout
        self._resolver, self._clock = resolver, clock
        self._lock = threading.Lock()
        self.current: Resolved | None = None
        self.resolutions = 0

    def refresh(self) -> Resolved:
        r = self._resolver(self.page_url, self.timeout)
        with self._lock:
            self.current = r
            self.resolutions += 1
        return r

    def url(self) -> str:
        with self._lock:
            cur = self.current
        if cur is None or self._expiring(cur):
            cur = self.refresh()
        return cur.stream_url

    def _expiring(self, r: Resolved) -> bool:
        return r.expires_at is not None and self._clock() > r.expires_at - EXPIRY_MARGIN_SECONDS

    def should_reopen(self) -> bool:
        cur = self.current
        return cur is not None and self._expiring(cur)

    def invalidate(self) -> None:
        with self._lock:
            self.current = None
