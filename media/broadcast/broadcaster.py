"""The Broadcaster: the season loop's one handle on live output (HLS files, the watch page, RTMP, viewers).

Why this shape: the engine calls `on_frame` from its generation thread for every output frame, so that call
only hands the frame to the stream's bounded queue; each stream's encoding runs in its own thread
(media.broadcast.stream) and the HTTP server in its own threads (media.broadcast.server). The loop tells the
Broadcaster who is live, their ERN and rank (`update_status`) and ends relegated streams (`end_stream`), and
reads back `real_viewers()` to add real eyes on top of the simulated audience. Its `chat` board
(media.broadcast.chat) is the arena's when the loop hands one in, so page, arena and external sources share it;
status rows may carry each streamer's persona, prompt and last spoken line for the page.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common.untrusted import clean_text
from media.avatar.animator import Animator
from media.avatar.echomimic import EchoMimicRenderer
from media.avatar.placement import AvatarPlacement
from media.broadcast.chat import ChatBoard
from media.broadcast.config import STREAM_ID_RE, BroadcastConfig, BroadcastError
from media.broadcast.server import BroadcastHTTPServer
from media.broadcast.stream import StreamWorker
from media.broadcast.viewers import ViewerCounter
from media.voice.desk import LineJob, VoiceDesk
from media.voice.profile import VoiceProfile
from media.voice.speech import SAMPLE_RATE, Speech

log = logging.getLogger(__name__)

STATUSES = ("live", "relegated")
NAME_CHARS = 80
FINISH_SECONDS = 10.0  # at most this long for the last spoken lines when the broadcast stops
ABOUT_CHARS = 300  # persona, prompt and last spoken line on the page
ABOUT_FIELDS = ("persona", "prompt", "said")


def _clean(text: object) -> str:
    """Names come from LLMs: one line of plain visible text via the project's one cleaner (the page also
    inserts them as text, never as HTML)."""
    return clean_text(text, NAME_CHARS)


class Broadcaster:
    def __init__(self, config: BroadcastConfig, run_dir: str | Path, chat: ChatBoard | None = None):
        self.config = config
        self.chat = chat if chat is not None else ChatBoard()
        self.run_dir = Path(run_dir)
        self.streams_dir = self.run_dir / "streams"
        self.viewers = ViewerCounter(
            config.viewer_window_seconds,
            per_address=config.viewers_per_address,
            streams_per_address=config.streams_per_address,
            max_tracked=config.viewer_table_size,
        )
        self._workers: dict[str, StreamWorker] = {}
        self._rows: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: BroadcastHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.frames_unknown = 0  # on_frame for a stream never added (or already ended)
        self.frames_invalid = 0  # not an HxWx3 uint8 array
        self.url: str | None = None
        self.voices: VoiceDesk | None = None  # started by the first line said (synthesis off the loop's thread)
        self.clips: EchoMimicRenderer | None = None  # `avatar: echomimic`: each line waits for its clip

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Start the HTTP server; returns the watch page URL. A taken port is a BroadcastError (one line)."""
        if self._server is not None:
            return self.url or ""
        c = self.config
        try:
            server = BroadcastHTTPServer((c.host, c.port), self, c.max_connections)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BroadcastError(
                    f"broadcast.port: port {c.port} on {c.host} is already in use; choose another broadcast.port"
                ) from None
            raise BroadcastError(f"broadcast: cannot listen on {c.host}:{c.port}: {exc.strerror or exc}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="broadcast-http", daemon=True
        )
        self._thread.start()
        host, port = server.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        if shown in ("0.0.0.0", "[::]"):
            shown = "127.0.0.1" if shown == "0.0.0.0" else "[::1]"
        self.url = f"http://{shown}:{port}/"
        log.info("broadcast page at %s", self.url)
        return self.url

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def stop(self) -> None:
        """End every stream (their playlists get #EXT-X-ENDLIST) and stop the server."""
        with self._lock:
            workers = list(self._workers.values())
        self._finish_lines(workers)
        for w in workers:  # signal all first, so the joins overlap
            w.request_end()
        for w in workers:
            w.end()
        if self.voices is not None:
            self.voices.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _finish_lines(self, workers: list[StreamWorker]) -> None:
        """The last lines said are heard before the playlists end: wait (bounded) for their synthesis and play."""
        if self.voices is None:
            return
        self.voices.idle(FINISH_SECONDS)
        left = max([w.voice.pending_seconds() for w in workers if w.alive] + [0.0])
        time.sleep(min(left + 0.5, FINISH_SECONDS) if left > 0 else 0.0)

    def __enter__(self) -> Broadcaster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ streams
    def add_stream(self, stream_id: str, name: str) -> None:
        if not isinstance(stream_id, str) or not STREAM_ID_RE.match(stream_id) or stream_id in (".", ".."):
            raise BroadcastError(f"broadcast: bad stream id {stream_id!r} (letters, digits, '_', '-', '.'; <= 64)")
        with self._lock:
            old = self._workers.get(stream_id)
            if old is not None and old.alive:
                raise BroadcastError(f"broadcast: stream {stream_id!r} is already being broadcast")
            self._workers[stream_id] = StreamWorker(
                stream_id, self.streams_dir / stream_id, self.config, self.config.rtmp.get(stream_id)
            )
            self._rows[stream_id] = {"id": stream_id, "name": _clean(name), "ern": 0.0, "status": "live", "rank": None}

    def on_frame(self, stream_id: str, frame: np.ndarray) -> None:
        """Thread-safe and never blocks: the frame goes to the stream's bounded queue (drop-oldest)."""
        worker = self._workers.get(stream_id)
        if worker is None:
            self.frames_unknown += 1
            return
        if (
            not isinstance(frame, np.ndarray)
            or frame.ndim != 3
            or frame.shape[2] != 3
            or frame.dtype != np.uint8
            or frame.shape[0] < 2
            or frame.shape[1] < 2
        ):
            self.frames_invalid += 1
            return
        worker.put(frame)

    def say(self, stream_id: str, profile: VoiceProfile, text: str) -> bool:
        """Queue a line for synthesis; it plays on the stream's audio track and captions when ready. Never
        blocks. False when the stream is not being broadcast."""
        worker = self._workers.get(stream_id)
        if worker is None:
            return False
        if self.voices is None:
            self.voices = VoiceDesk()
        deliver = worker.voice.add
        portrait = worker.folder / "avatar.png"
        if self.clips is not None and worker.animator is not None and portrait.is_file():
            clips = self.clips

            def deliver(speech: Speech) -> None:  # noqa: F811 - the line goes on with its clip when rendered
                clips.render(portrait, speech.samples, SAMPLE_RATE, lambda clip: worker.voice.add(speech, clip))

        self.voices.say(LineJob(stream_id, profile, text, deliver))
        return True

    def set_face(self, stream_id: str, portrait: np.ndarray, seed: int = 0) -> None:
        """Give the stream an avatar animated from `portrait` (also served as the page's avatar.png)."""
        worker = self._workers.get(stream_id)
        if worker is None:
            return
        worker.animator = Animator(portrait, seed)
        Image.fromarray(np.ascontiguousarray(portrait, dtype=np.uint8)).save(worker.folder / "avatar.png")

    def place_avatar(self, stream_id: str, placement: AvatarPlacement) -> None:
        worker = self._workers.get(stream_id)
        if worker is not None:
            worker.placement = placement.clamped()

    def update_status(self, rows: list[dict]) -> None:
        """Rows from the loop: {id, name, ern, status: live|relegated, rank, persona?, prompt?, said?}; unknown ids
        are added to the list."""
        with self._lock:
            for row in rows:
                sid = str(row.get("id", ""))
                if not STREAM_ID_RE.match(sid):
                    continue
                cur = self._rows.setdefault(sid, {"id": sid, "name": sid, "ern": 0.0, "status": "live", "rank": None})
                if "name" in row:
                    cur["name"] = _clean(row["name"])
                if "ern" in row:
                    try:
                        cur["ern"] = round(float(row["ern"]), 2)
                    except (TypeError, ValueError):
                        pass
                if row.get("status") in STATUSES:
                    cur["status"] = row["status"]
                if "rank" in row:
                    cur["rank"] = row["rank"] if isinstance(row["rank"], int) else None
                for key in ABOUT_FIELDS:
                    if key in row:
                        cur[key] = clean_text(row[key], ABOUT_CHARS)

    def end_stream(self, stream_id: str) -> None:
        """Finish the stream's playlist with #EXT-X-ENDLIST; it stays listed (as relegated) on the page."""
        with self._lock:
            worker = self._workers.get(stream_id)
            row = self._rows.get(stream_id)
            if row is not None and row["status"] == "live":
                row["status"] = "relegated"
        if worker is not None:
            worker.end()

    # ------------------------------------------------------------------ read side
    def real_viewers(self) -> dict[str, int]:
        """Viewers showing evidence of playback per stream (media.broadcast.viewers), bounded per address."""
        with self._lock:
            ids = list(self._rows)
        return self.viewers.counts(ids)

    def distinct_real_viewers(self) -> int:
        """Distinct real viewers that played any stream since this broadcaster started (media.broadcast.viewers)."""
        return self.viewers.distinct()

    def stats(self) -> dict:
        with self._lock:
            workers = dict(self._workers)
        return {
            "streams": {sid: w.stats() for sid, w in workers.items()},
            "frames_unknown": self.frames_unknown,
            "frames_invalid": self.frames_invalid,
            "http_rejected": 0 if self._server is None else self._server.rejected,
        }

    # ------------------------------------------------------------------ Site (for the HTTP server)
    def stream_folder(self, stream_id: str) -> Path | None:
        with self._lock:
            known = stream_id in self._workers
        return self.streams_dir / stream_id if known else None

    def api_streams(self) -> list[dict]:
        viewers = self.real_viewers()
        with self._lock:
            rows = [dict(r) for r in self._rows.values()]
            workers = dict(self._workers)
        for r in rows:
            w = workers.get(r["id"])
            r["real_viewers"] = viewers.get(r["id"], 0)
            r["broadcast"] = w.status if w is not None else "none"
            r["playlist"] = f"/streams/{r['id']}/index.m3u8" if w is not None else None
            r["captions"] = w.voice.captions() if w is not None else []
            has_face = w is not None and w.animator is not None
            r["avatar"] = f"/streams/{r['id']}/avatar.png" if has_face else None
        rows.sort(key=lambda r: (r["status"] != "live", r["rank"] if r["rank"] is not None else 1 << 30, r["id"]))
        return rows

    def record_view(self, stream_id: str, file_name: str, address: str, user_agent: str, viewer: str | None) -> None:
        """A stream file was served: the counter decides whether it is evidence of playback."""
        self.viewers.record(stream_id, file_name, address, ViewerCounter.client_key(user_agent, viewer))
