"""The voice desk: spoken lines are synthesised on one background thread, in the order they were said.

Why a thread of its own: synthesis costs ~0.1 s of CPU per second of speech (Piper on 2 cores), which must
never sit on the generation thread or the season loop. Lines wait in a bounded queue (the oldest is dropped
and counted beyond it); each finished line goes to its stream's `deliver` callback (the broadcast's voice
track), which queues it behind anything still playing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from media.voice.profile import VoiceProfile
from media.voice.speech import Speech
from media.voice.synth import VoiceUnavailable, synthesize

log = logging.getLogger(__name__)

QUEUE_LINES = 64


@dataclass(frozen=True)
class LineJob:
    stream_id: str
    profile: VoiceProfile
    text: str
    deliver: Callable[[Speech], object]


class VoiceDesk:
    def __init__(self, synth: Callable[[VoiceProfile, str], Speech] = synthesize):
        self._synth = synth
        self._jobs: queue.Queue[LineJob | None] = queue.Queue(maxsize=QUEUE_LINES)
        self.lines_done = 0
        self.lines_dropped = 0
        self.lines_failed = 0
        self.audio_seconds = 0.0
        self.synth_seconds = 0.0  # CPU time of the desk's thread spent synthesising
        self._thread = threading.Thread(target=self._run, name="voice-desk", daemon=True)
        self._thread.start()

    def say(self, job: LineJob) -> None:
        """Never blocks: a full queue drops its oldest line."""
        while True:
            try:
                self._jobs.put_nowait(job)
                return
            except queue.Full:
                try:
                    self._jobs.get_nowait()
                    self.lines_dropped += 1
                except queue.Empty:
                    pass

    def idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued line is delivered (tests and benches)."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._jobs.unfinished_tasks

    def stop(self) -> None:
        self.say(None)  # type: ignore[arg-type]
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                cpu = time.thread_time()
                try:
                    speech = self._synth(job.profile, job.text)
                except VoiceUnavailable as exc:
                    self.lines_failed += 1
                    log.error("stream %s cannot speak: %s", job.stream_id, exc)
                    continue
                self.synth_seconds += time.thread_time() - cpu
                self.audio_seconds += speech.seconds
                self.lines_done += 1
                job.deliver(speech)
            except Exception as exc:  # a failed line never stops the desk
                self.lines_failed += 1
                log.error("a line of stream %s failed: %s", getattr(job, "stream_id", "?"), exc)
            finally:
                self._jobs.task_done()

    def stats(self) -> dict:
        return {
            "lines_done": self.lines_done,
            "lines_dropped": self.lines_dropped,
            "lines_failed": self.lines_failed,
            "audio_seconds": round(self.audio_seconds, 3),
            "synth_seconds": round(self.synth_seconds, 3),
        }
