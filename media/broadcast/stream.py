"""One stream's encoder thread: a bounded frame queue in, rolling HLS (and optionally RTMP) out.

Why a thread per stream with its own clock: generation is bursty (batches, model timing faster than real
time, stalls) while a player wants a steady real-time stream. `put` only appends to a bounded queue
(drop-oldest, counted) so the generation thread never waits on encoding; the encoder ticks at the encode fps
on the wall clock, takes one queued frame per tick (dropping a backlog beyond `MAX_BACKLOG` to keep latency
low) and repeats the last frame when none is queued. Frame k has pts k, so a keyframe every `gop` ticks puts
a segment boundary exactly every `segment_seconds`. The stream's voice (`voice`, a VoiceTrack) feeds the audio
track and the captions; its avatar (`animator`, placed by `placement`) is composited onto each encoded frame
here, on the encoder thread, so the generation thread never pays for it and the mouth follows the audio heard.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from media.avatar.animator import Animator
from media.avatar.placement import AvatarPlacement
from media.broadcast.config import BroadcastConfig
from media.broadcast.encoder import AvEncoder, open_hls
from media.broadcast.rtmp import RtmpPusher
from media.broadcast.voice_track import CAPTIONS_FILE, CAPTIONS_PLAYLIST, MASTER, VoiceTrack

log = logging.getLogger(__name__)

MAX_BACKLOG = 2  # frames left queued after a tick; more means the producer runs ahead of real time
LATENCY_SAMPLES = 512
OWN_FILES = ("index.m3u8", "index.m3u8.tmp", MASTER, CAPTIONS_PLAYLIST, CAPTIONS_FILE)


class StreamWorker:
    """Encodes one stream. `put` is thread-safe and never blocks; `end` closes the playlist with ENDLIST."""

    def __init__(self, stream_id: str, folder: Path, config: BroadcastConfig, rtmp_url: str | None = None):
        self.stream_id = stream_id
        self.folder = folder
        self.config = config
        self.gop = config.gop
        self.fps = config.fps
        self._queue: deque[tuple[np.ndarray, float]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.frames_queued = 0
        self.frames_dropped = 0  # dropped from a full queue (the encoder fell behind the producer)
        self.frames_skipped = 0  # dropped at a tick because the producer runs ahead of real time
        self.frames_encoded = 0  # ticks encoded (includes repeats)
        self.frames_repeated = 0
        self.ticks_skipped = 0  # ticks lost because the encoder thread was starved of CPU
        self.encode_seconds = 0.0  # CPU time of the encoder thread (time.thread_time)
        self.status = "waiting"  # waiting | live | ended | error
        self.error: str | None = None
        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.rtmp = RtmpPusher(stream_id, rtmp_url, config) if rtmp_url else None
        self._clean_old_output()
        self.voice = VoiceTrack(folder, self.fps)
        if self.rtmp is not None:
            self.rtmp.audio_source = self.voice.read
        self.animator: Animator | None = None  # set when the streamer has a face
        self.placement = AvatarPlacement()
        self._thread = threading.Thread(target=self._run, name=f"broadcast-{stream_id}", daemon=True)
        self._thread.start()

    def _clean_old_output(self) -> None:
        """A previous run's playlist and segments in this folder would be served as if live: remove ours only."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for p in self.folder.iterdir():
            if p.name in OWN_FILES or (p.name.startswith("seg_") and p.suffix in (".ts", ".tmp")):
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ producer side
    def put(self, frame: np.ndarray) -> None:
        if self._stop.is_set():
            return
        item = (np.array(frame, dtype=np.uint8, copy=True), time.monotonic())
        with self._cond:
            if len(self._queue) >= self.config.queue_frames:
                self._queue.popleft()
                self.frames_dropped += 1
            self._queue.append(item)
            self.frames_queued += 1
            self._cond.notify()

    def request_end(self) -> None:
        """Tell the encoder thread to finish, without waiting (so many streams can end in parallel)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def end(self, timeout: float = 5.0) -> None:
        """Stop encoding and finish the playlist (#EXT-X-ENDLIST). Idempotent."""
        self.request_end()
        self._thread.join(timeout)
        if self.rtmp is not None:
            self.rtmp.stop()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ encoder thread
    def _first_frame(self) -> tuple[np.ndarray, float] | None:
        with self._cond:
            while not self._queue and not self._stop.is_set():
                self._cond.wait(0.5)
            return self._queue.popleft() if self._queue else None

    def _take(self) -> tuple[np.ndarray, float] | None:
        with self._cond:
            while len(self._queue) > MAX_BACKLOG + 1:
                self._queue.popleft()
                self.frames_skipped += 1
            return self._queue.popleft() if self._queue else None

    def _run(self) -> None:
        enc: AvEncoder | None = None
        try:
            first = self._first_frame()
            if first is None:
                self.status = "ended"
                return
            frame, t_in = first
            w, h = self.config.output_size(frame.shape[1], frame.shape[0])
            enc = open_hls(
                self.folder,
                w,
                h,
                self.fps,
                self.config.segment_seconds,
                self.config.window_segments,
                self.config.scale_filter,
            )
            enc.audio_source = self.voice.read
            self.status = "live"
            self._loop(enc, frame, t_in)
        except Exception as exc:  # an encoder failure ends this stream only, with one logged line
            self.status, self.error = "error", f"{type(exc).__name__}: {exc}"
            log.error("broadcast of stream %s failed: %s", self.stream_id, self.error)
        finally:
            if enc is not None:
                try:
                    enc.close()
                except Exception as exc:
                    log.error("closing the broadcast of stream %s failed: %s", self.stream_id, exc)
            self.voice.close()
            if self.status != "error":
                self.status = "ended"

    def _loop(self, enc: AvEncoder, frame: np.ndarray, t_in: float) -> None:
        playlist = self.folder / "index.m3u8"
        t0 = time.monotonic()
        k = 0
        last_key = 0
        mtime = 0
        # (tick, on_frame time) of frames not yet published; bounded in case the playlist never updates
        pending: deque[tuple[int, float]] = deque([(0, t_in)], maxlen=LATENCY_SAMPLES * 4)
        while True:
            wait = t0 + k / self.fps - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            if self._stop.is_set():
                return
            cpu0 = time.thread_time()
            behind = int((time.monotonic() - t0) * self.fps) - k
            keyframe = k % self.gop == 0
            if behind > self.gop:  # starved for more than a segment: jump to now instead of catching up
                self.ticks_skipped += behind
                keyframe = keyframe or (k + behind) // self.gop != k // self.gop
                k += behind
            if k > 0:
                item = self._take()
                if item is None:
                    self.frames_repeated += 1
                else:
                    frame, t_in = item
                    pending.append((k, t_in))
            shown = self._with_avatar(frame, k / self.fps)
            packets = enc.encode(shown, k, keyframe=keyframe)
            if any(p.is_keyframe for p in packets):
                last_key = k
            if self.rtmp is not None:
                self.rtmp.put(shown, k, keyframe)
            self.frames_encoded += 1
            # The muxer rewrites the playlist when a segment closes; the closed segment holds ticks < last_key.
            try:
                m = os.stat(playlist).st_mtime_ns
            except FileNotFoundError:
                m = mtime
            if m != mtime:
                mtime = m
                now = time.monotonic()
                while pending and pending[0][0] < last_key:
                    self.latencies.append(now - pending.popleft()[1])
            self.encode_seconds += time.thread_time() - cpu0
            k += 1

    def _with_avatar(self, frame: np.ndarray, seconds: float) -> np.ndarray:
        """The frame to encode at `seconds`: the avatar composited on a copy (the frame may be repeated)."""
        self.voice.tick(seconds)
        animator, placement = self.animator, self.placement
        if animator is None or not placement.visible:
            return frame
        level, clip_frame = self.voice.face(seconds)
        if clip_frame is not None:  # an EchoMimic clip of the line being heard
            return animator.composite_image(frame.copy(), clip_frame, placement)
        return animator.composite(frame.copy(), seconds, level, placement)

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict:
        lat = sorted(self.latencies)
        out = {
            "status": self.status,
            "frames_queued": self.frames_queued,
            "frames_encoded": self.frames_encoded,
            "frames_dropped": self.frames_dropped,
            "frames_skipped": self.frames_skipped,
            "frames_repeated": self.frames_repeated,
            "ticks_skipped": self.ticks_skipped,
            "encode_seconds": round(self.encode_seconds, 4),
            "queue_level": len(self._queue),
            "lines_spoken": self.voice.lines_added,
            "latency_seconds": (
                {"mean": sum(lat) / len(lat), "p50": lat[len(lat) // 2], "max": lat[-1], "n": len(lat)} if lat else None
            ),
        }
        if self.error:
            out["error"] = self.error
        if self.rtmp is not None:
            out["rtmp"] = self.rtmp.stats()
        return out
