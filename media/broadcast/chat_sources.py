"""External chat sources (optional extras): a Twitch or YouTube live chat mapped onto one arena stream's chat.

Why this shape: a platform's chat arrives on its own schedule and its clients block or run their own event
loop, so each source reads in a daemon thread and only ever calls `ChatBoard.post` (thread-safe, cleaned,
counted) with `source` = the platform. Every raw item, live or recorded, goes through the same `message_of`
mapping and the same pump, so a recorded fixture (JSON lines of raw platform items, `recorded:`) tests the
path a live chat takes, offline. Live clients are imported only when used:

- Twitch: `twitchio` (3.x, EventSub over websockets, `channel.chat.message`); credentials from the
  environment only (TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET, TWITCH_BOT_ID, TWITCH_BROADCASTER_ID), never the
  season YAML. Raw item: the EventSub event (`chatter_user_name`, `message.text`) or twitchio's `ChatMessage`.
- YouTube: `chat-downloader` (`ChatDownloader().get_chat(url, timeout=..., inactivity_timeout=...)`); raw
  item: its message dict (`author.name`, `message`); pytchat's items (`author.name`, `message`) map the same.

A source that fails (missing extra, no network, bad credentials) logs one line, counts the error and stops;
the season goes on without it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from media.broadcast.chat import ChatBoard, ChatRejected
from media.broadcast.config import STREAM_ID_RE

log = logging.getLogger(__name__)

TWITCH_ENV = ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "TWITCH_BOT_ID", "TWITCH_BROADCASTER_ID")


class ExternalChatConfig(BaseModel):
    """One external chat mapped to a stream (the `chat.sources` list of the season config)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["twitch", "youtube"]
    stream: str = Field(description="the arena stream (slot, e.g. s01) whose chat this feeds")
    url: str | None = Field(None, description="youtube: the live stream's URL")
    recorded: str | None = Field(None, description="a JSON-lines file of raw platform items to replay instead")
    pace_seconds: float = Field(0.0, ge=0, le=60, description="recorded: seconds between replayed items")
    timeout_seconds: float = Field(10.0, gt=0, le=600, description="youtube: give up after this long idle")

    @model_validator(mode="after")
    def _check(self) -> ExternalChatConfig:
        if not STREAM_ID_RE.match(self.stream):
            raise ValueError(f"stream: bad stream id {self.stream!r}")
        if self.kind == "youtube" and not (self.url or self.recorded):
            raise ValueError("youtube: give the live stream's url (or a recorded file)")
        if self.url is not None and not self.url.startswith("https://"):
            raise ValueError(f"url: expected an https:// URL, got {self.url[:60]!r}")
        return self


def _get(item: Any, *path: str) -> Any:
    """item[path...] for dicts, item.path... for objects; None when absent."""
    for key in path:
        item = item.get(key) if isinstance(item, dict) else getattr(item, key, None)
        if item is None:
            return None
    return item


def message_of(kind: str, item: Any) -> tuple[str, str] | None:
    """(author, text) of one raw platform item, or None if it is not a chat message."""
    if kind == "twitch":
        name = _get(item, "chatter_user_name") or _get(item, "chatter", "display_name") or _get(item, "chatter", "name")
        text = _get(item, "message", "text") if isinstance(item, dict) else _get(item, "text")
    else:
        name, text = _get(item, "author", "name"), _get(item, "message")
    if not isinstance(text, str) or not text.strip():
        return None
    return (name if isinstance(name, str) else "viewer"), text


def recorded_items(path: str | Path, pace: float, stop: threading.Event) -> Iterator[Any]:
    """The raw items of a recorded fixture, one JSON value per line (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if stop.is_set():
                return
            if line.strip():
                yield json.loads(line)
                if pace:
                    stop.wait(pace)


def youtube_items(url: str, timeout: float, stop: threading.Event) -> Iterator[Any]:
    from chat_downloader import ChatDownloader  # the youtube-chat extra

    chat = ChatDownloader().get_chat(url, timeout=None, inactivity_timeout=timeout, interruptible_retry=False)
    for item in chat:
        if stop.is_set():
            return
        yield item


def _twitch_run(on_item: Callable[[Any], None], stop: threading.Event) -> None:
    """Read a Twitch channel's chat through twitchio's EventSub websocket until `stop` (credentials: TWITCH_ENV)."""
    import asyncio

    import twitchio  # the twitch-chat extra
    from twitchio import eventsub

    missing = [k for k in TWITCH_ENV if not os.environ.get(k)]
    if missing:
        raise RuntimeError(f"twitch chat needs the environment variables {', '.join(missing)}")
    env = {k: os.environ[k] for k in TWITCH_ENV}

    async def main() -> None:
        client = twitchio.Client(
            client_id=env["TWITCH_CLIENT_ID"], client_secret=env["TWITCH_CLIENT_SECRET"], bot_id=env["TWITCH_BOT_ID"]
        )

        async def event_message(message: Any) -> None:
            on_item(message)

        client.add_listener(event_message, event="event_message")
        async with client:
            await client.login()
            sub = eventsub.ChatMessageSubscription(
                broadcaster_user_id=env["TWITCH_BROADCASTER_ID"], user_id=env["TWITCH_BOT_ID"]
            )
            await client.subscribe_websocket(sub)
            while not stop.is_set():
                await asyncio.sleep(0.5)

    asyncio.run(main())


class ExternalChat:
    """One external source read in a daemon thread into the board (start/stop; counts posted and errors)."""

    def __init__(self, config: ExternalChatConfig, board: ChatBoard):
        self.config = config
        self.board = board
        self.stop_event = threading.Event()
        self.posted = 0
        self.skipped = 0
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def post(self, item: Any) -> None:
        """Map one raw item and post it to the stream's chat (the one path of live and recorded items)."""
        found = message_of(self.config.kind, item)
        if found is None:
            self.skipped += 1
            return
        try:
            self.board.post(self.config.stream, found[0], found[1], source=self.config.kind)
            self.posted += 1
        except ChatRejected:  # an empty or non-live stream: the message is dropped, the source goes on
            self.skipped += 1

    def run(self) -> None:
        c = self.config
        try:
            if c.recorded:
                for item in recorded_items(c.recorded, c.pace_seconds, self.stop_event):
                    self.post(item)
            elif c.kind == "youtube":
                for item in youtube_items(c.url or "", c.timeout_seconds, self.stop_event):
                    self.post(item)
            else:
                _twitch_run(self.post, self.stop_event)
        except Exception as exc:  # noqa: BLE001 - a source's failure never stops the season
            self.error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("%s chat for %s stopped: %s", c.kind, c.stream, self.error)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.run, name=f"chat-{self.config.kind}-{self.config.stream}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()
