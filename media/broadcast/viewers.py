"""Real viewers: clients that show evidence of playback, bounded per client address.

Why not just distinct ids: the arena adds real viewers one-for-one to a stream's ERN, and a `?viewer=` id is
whatever the client sends, so one script looping over ids once bought 1,244 "viewers" in a round. Here a
viewer counts for a stream only while it keeps *playing* it: its last `MIN_SEGMENTS` fetches of new media
segments (each a higher segment number than the one before; playlist polls and repeated segments prove
nothing) all fall within the window. It drops out `window` seconds after its last new segment. On top of that,
one client address holds at most `per_address` tracked ids per stream and tracks at most `streams_per_address`
streams; further ids are ignored (logged once per address at debug). The whole table is capped and expired
entries are pruned, so untrusted ids cannot grow memory.

A viewer is identified by (address, id): the `viewer` query parameter the page sends (one id per open page), or
else the User-Agent (players such as VLC or ffplay). Callers validate the id first (`VIEWER_ID_RE`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

VIEWER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SEGMENT_RE = re.compile(r"^seg_(\d{1,9})\.ts$")  # the encoder's segment names (media.broadcast.encoder)
MIN_SEGMENTS = 2  # new segments a viewer must fetch within the window to count
MAX_LOGGED_ADDRESSES = 1024  # "ignored" is logged once per address; this bounds that memory too
MAX_DISTINCT = 100_000  # distinct viewers remembered (as digests); the count saturates there, memory stays bounded

Key = tuple[str, str, str]  # (stream id, client address, viewer key)


@dataclass
class _Viewer:
    """One tracked (stream, address, id): the last segment it fetched and when it fetched its latest new ones."""

    last_segment: int
    fetches: deque[float] = field(default_factory=lambda: deque(maxlen=MIN_SEGMENTS))

    def playing(self, now: float, window: float) -> bool:
        return len(self.fetches) >= MIN_SEGMENTS and now - self.fetches[0] <= window

    def expired(self, now: float, window: float) -> bool:
        return now - self.fetches[-1] > window


def segment_number(file_name: str) -> int | None:
    """The media sequence number of a segment file name, None for playlists and anything else."""
    m = SEGMENT_RE.match(file_name)
    return int(m.group(1)) if m else None


class ViewerCounter:
    """Thread-safe: the HTTP threads `record` fetches, the season loop reads `counts`."""

    def __init__(
        self,
        window_seconds: float,
        per_address: int = 1,
        streams_per_address: int = 8,
        max_tracked: int = 4096,
    ):
        self.window = float(window_seconds)
        self.per_address = int(per_address)
        self.streams_per_address = int(streams_per_address)
        self.max_tracked = int(max_tracked)
        self.ignored = 0  # fetches by ids beyond a bound or a full table
        self._viewers: dict[Key, _Viewer] = {}
        self._by_address: dict[str, dict[str, set[str]]] = {}  # address -> stream -> viewer keys
        self._logged: set[str] = set()
        self._seen: set[bytes] = set()  # digests of (address, key) that ever counted as playing: distinct viewers
        self._next_prune = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def client_key(user_agent: str, viewer_id: str | None) -> str:
        """The page's id when it sent one, else the player's User-Agent (the address is part of every key)."""
        if viewer_id and VIEWER_ID_RE.match(viewer_id):
            return "v:" + viewer_id
        return "a:" + user_agent[:200]

    def record(self, stream_id: str, file_name: str, address: str, key: str, now: float | None = None) -> bool:
        """Note one served stream file; True when it was evidence of playback (a new segment for this viewer)."""
        number = segment_number(file_name)
        if number is None:
            return False
        now = time.monotonic() if now is None else now
        with self._lock:
            if now >= self._next_prune:
                self._prune(now)
            viewer = self._viewers.get((stream_id, address, key))
            if viewer is None:
                if not self._admit(stream_id, address, now):
                    self.ignored += 1
                    return False
                viewer = self._viewers[(stream_id, address, key)] = _Viewer(number)
                self._by_address.setdefault(address, {}).setdefault(stream_id, set()).add(key)
            elif number <= viewer.last_segment:
                return False
            viewer.last_segment = number
            viewer.fetches.append(now)
            if viewer.playing(now, self.window) and len(self._seen) < MAX_DISTINCT:
                self._seen.add(hashlib.blake2b(f"{address}\0{key}".encode(), digest_size=12).digest())
            return True

    def _admit(self, stream_id: str, address: str, now: float) -> bool:
        """Whether a new id from `address` may be tracked on `stream_id` (the per-address and table bounds)."""
        self._prune_address(address, now)
        streams = self._by_address.get(address, {})
        if len(streams.get(stream_id, ())) >= self.per_address:
            return self._ignore(address, f"more than {self.per_address} viewer id(s) on stream {stream_id}")
        if stream_id not in streams and len(streams) >= self.streams_per_address:
            return self._ignore(address, f"more than {self.streams_per_address} streams")
        if len(self._viewers) >= self.max_tracked:
            self._prune(now)
            if len(self._viewers) >= self.max_tracked:
                return self._ignore(address, f"viewer table full ({self.max_tracked} ids)")
        return True

    def _ignore(self, address: str, why: str) -> bool:
        if address not in self._logged:
            if len(self._logged) >= MAX_LOGGED_ADDRESSES:
                self._logged.clear()
            self._logged.add(address)
            log.debug("viewers: ignoring new ids from %s: %s", address, why)
        return False

    def _forget(self, key: Key) -> None:
        stream_id, address, viewer_key = key
        del self._viewers[key]
        streams = self._by_address.get(address, {})
        keys = streams.get(stream_id)
        if keys is not None:
            keys.discard(viewer_key)
            if not keys:
                del streams[stream_id]
        if not streams:
            self._by_address.pop(address, None)

    def _prune_address(self, address: str, now: float) -> None:
        """Expire one address's entries: cheap (at most per_address x streams_per_address of them)."""
        for stream_id, keys in list(self._by_address.get(address, {}).items()):
            for viewer_key in list(keys):
                key = (stream_id, address, viewer_key)
                if self._viewers[key].expired(now, self.window):
                    self._forget(key)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._viewers.items() if v.expired(now, self.window)]:
            self._forget(key)
        self._next_prune = now + self.window / 4

    def counts(self, stream_ids: list[str], now: float | None = None) -> dict[str, int]:
        """Viewers playing each stream now (see the module docstring for what counts)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._prune(now)
            out = dict.fromkeys(stream_ids, 0)
            for (stream_id, _, _), viewer in self._viewers.items():
                if stream_id in out and viewer.playing(now, self.window):
                    out[stream_id] += 1
            return out

    def distinct(self) -> int:
        """Distinct viewers (address + id, whatever streams they watched) that ever showed playback to this
        counter: the season's "distinct real viewers" while this process serves it. Kept as digests, never
        addresses; saturates at MAX_DISTINCT."""
        with self._lock:
            return len(self._seen)

    def tracked(self) -> int:
        """Entries held now (for stats and tests: it never exceeds `max_tracked`)."""
        with self._lock:
            return len(self._viewers)
