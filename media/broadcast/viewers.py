"""Real viewers: distinct clients that fetched a stream's playlist or segments within the last N seconds.

A client is the `viewer` query parameter the page sends (one id per open page, so two tabs are two viewers),
or else its IP address plus User-Agent (players such as VLC or ffplay). A live player refetches the playlist
every segment, so a window of a few segments tells a watching client from one that left.
"""

from __future__ import annotations

import re
import threading
import time

VIEWER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_CLIENTS_PER_STREAM = 10_000  # bounds memory if someone sprays viewer ids


class ViewerCounter:
    def __init__(self, window_seconds: float):
        self.window = float(window_seconds)
        self._seen: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def client_key(ip: str, user_agent: str, viewer_id: str | None) -> str:
        if viewer_id and VIEWER_ID_RE.match(viewer_id):
            return "v:" + viewer_id
        return f"a:{ip}|{user_agent[:200]}"

    def record(self, stream_id: str, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.setdefault(stream_id, {})
            if key not in seen and len(seen) >= MAX_CLIENTS_PER_STREAM:
                self._prune(seen, now)
                if len(seen) >= MAX_CLIENTS_PER_STREAM:
                    return
            seen[key] = now

    def _prune(self, seen: dict[str, float], now: float) -> None:
        for k in [k for k, t in seen.items() if now - t > self.window]:
            del seen[k]

    def counts(self, stream_ids: list[str], now: float | None = None) -> dict[str, int]:
        now = time.monotonic() if now is None else now
        with self._lock:
            out = {}
            for sid in stream_ids:
                seen = self._seen.get(sid, {})
                self._prune(seen, now)
                out[sid] = len(seen)
            return out
