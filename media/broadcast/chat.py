"""The chat board: every stream's live chat, in memory, shared by the watch page, external sources and the arena.

Why here (media, below the arena): the HTTP server takes viewers' messages while a round runs, external sources
(Twitch, YouTube) post from their own threads, and the arena drains what arrived at each round's commit and adds
the simulated audience's and the streamers' lines. One thread-safe board with monotonically numbered messages
lets every page poll `since(after)` and the arena persist each message exactly once (`drain`).

Everything posted is untrusted: names and texts go through `common.untrusted.clean_text` (one line of visible
text), are stored and served as JSON data and inserted by the page as text, never HTML. A client (address +
page id) may post `per_client` messages per `window_seconds`; one address at most `per_address` (so rotating
page ids does not lift the limit). `!style <prompt>` is a style request (`parse_style`), the one definition of
that syntax.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

from common.untrusted import clean_text
from media.broadcast.config import STREAM_ID_RE

NAME_CHARS = 32
TEXT_CHARS = 280
STYLE_PREFIX = "!style"
SOURCES = ("web", "sim", "twitch", "youtube", "streamer", "arena")
KINDS = ("chat", "style_request", "outcome")


class ChatRejected(Exception):
    """A message the board refuses; `status` is the HTTP status the server answers with."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status = status


@dataclass(frozen=True)
class ChatMessage:
    id: int  # monotonic over the board's life (pages poll with `after=id`)
    stream_id: str
    name: str
    text: str  # for a style request: the requested style, without the `!style` prefix
    source: str  # one of SOURCES
    kind: str = "chat"  # one of KINDS
    request_id: int | None = None  # a style request's id (its own id), or the request an outcome answers
    at: float = 0.0  # wall-clock seconds

    def to_dict(self) -> dict:
        return asdict(self)


def parse_style(text: str) -> str | None:
    """The requested style of a `!style <prompt>` message (cleaned, maybe empty), or None if it is not one."""
    head = text.strip()
    if head.lower() == STYLE_PREFIX or head.lower().startswith(STYLE_PREFIX + " "):
        return clean_text(head[len(STYLE_PREFIX) :], TEXT_CHARS)
    return None


class _Window:
    """Sliding-window counters: at most `limit` events per key in any `seconds` (bounded number of keys)."""

    def __init__(self, limit: int, seconds: float, max_keys: int = 4096):
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        q = self._hits.get(key)
        if q is None:
            if len(self._hits) >= self.max_keys:  # forget the stalest keys rather than grow without bound
                stale = [k for k, v in self._hits.items() if not v or v[-1] < now - self.seconds]
                for k in stale or list(self._hits)[: self.max_keys // 4]:
                    del self._hits[k]
            q = self._hits[key] = deque()
        while q and q[0] <= now - self.seconds:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        return True


class ChatBoard:
    """Thread-safe chat of every stream: `post` (validated, rate-limited), `since` (pages), `drain` (arena)."""

    def __init__(
        self,
        per_client: int = 20,
        per_address: int = 100,
        window_seconds: float = 10.0,
        history: int = 500,
    ):
        self._lock = threading.Lock()
        self._messages: deque[ChatMessage] = deque(maxlen=history)
        self._undrained: list[ChatMessage] = []
        self._next_id = 1
        self._clients = _Window(per_client, window_seconds)
        self._addresses = _Window(per_address, window_seconds)
        self._streams: set[str] | None = None  # None: any well-formed stream id is accepted
        self.posted = 0
        self.refused = 0

    def set_streams(self, stream_ids: set[str] | None) -> None:
        """The streams that take chat now (live ones); a post to another is a 404."""
        with self._lock:
            self._streams = None if stream_ids is None else set(stream_ids)

    def post(
        self,
        stream_id: str,
        name: object,
        text: object,
        *,
        source: str = "web",
        kind: str | None = None,
        request_id: int | None = None,
        client: str | None = None,
        address: str | None = None,
    ) -> ChatMessage:
        """Add one message; `client`/`address` (web posts) are rate-limited. Raises ChatRejected (4xx)."""
        if source not in SOURCES:
            raise ValueError(f"unknown chat source {source!r}")
        if not isinstance(stream_id, str) or not STREAM_ID_RE.match(stream_id):
            raise ChatRejected(400, "stream: expected a stream id")
        if not isinstance(text, str) or (name is not None and not isinstance(name, str)):
            raise ChatRejected(400, "name and text must be strings")
        shown = clean_text(name, NAME_CHARS) or "viewer"
        body = clean_text(text, TEXT_CHARS)
        style = parse_style(body) if kind is None else None
        kind = kind or ("style_request" if style is not None else "chat")
        if kind not in KINDS:
            raise ValueError(f"unknown chat kind {kind!r}")
        if style is not None:
            body = style
        if not body:
            raise ChatRejected(
                400, "text: the message has no visible text" if style is None else "!style needs a prompt"
            )
        with self._lock:
            if self._streams is not None and stream_id not in self._streams:
                self.refused += 1
                raise ChatRejected(404, f"stream {stream_id!r} is not live")
            now = time.monotonic()
            if address is not None and (
                not self._clients.allow(f"{address}|{client or ''}", now) or not self._addresses.allow(address, now)
            ):
                self.refused += 1
                raise ChatRejected(429, "too many messages: wait a few seconds")
            msg = ChatMessage(
                self._next_id,
                stream_id,
                shown,
                body,
                source,
                kind,
                self._next_id if kind == "style_request" else request_id,
                round(time.time(), 3),
            )
            self._next_id += 1
            self._messages.append(msg)
            self._undrained.append(msg)
            self.posted += 1
            return msg

    def since(self, after: int, limit: int = 100) -> list[ChatMessage]:
        """Messages with id > after (the oldest `limit` of them), for a page's poll."""
        with self._lock:
            out = [m for m in self._messages if m.id > after]
        return out[:limit]

    @property
    def last_id(self) -> int:
        with self._lock:
            return self._next_id - 1

    def drain(self) -> list[ChatMessage]:
        """Every message posted since the last drain, in order (the arena stores each exactly once)."""
        with self._lock:
            out, self._undrained = self._undrained, []
            return out

    def state(self) -> dict:
        """What a resumed season needs so message ids never repeat."""
        with self._lock:
            return {"next_id": self._next_id}

    def load_state(self, state: dict) -> None:
        with self._lock:
            self._next_id = max(self._next_id, int(state.get("next_id", 1)))
