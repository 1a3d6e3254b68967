"""One stream's voice on its broadcast: spoken lines queued on the encoder's audio timeline, the loudness that
moves the avatar, and the WebVTT captions (a subtitles rendition in the HLS master playlist).

Why on the encoder's timeline: the encoder ticks at the broadcast fps on the wall clock (media.broadcast.stream)
and writes audio a little ahead of each video frame, so a line placed at the next free sample after the current
tick is heard with the frames around it, on HLS and RTMP alike. Lines never overlap: a line arriving while
another plays starts when it ends. The season's own record of when a line was said is on the stream clock
(media.voice.timeline); this is its real-time rendering. `add` runs on the voice desk's thread, `read`,
`level` and `tick` on the encoder thread, hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.voice.captions import Cue, webvtt
from media.voice.envelope import envelope
from media.voice.speech import SAMPLE_RATE, Speech

LEAD_SECONDS = 0.3  # a line starts this long after the tick it arrives at (the encoder writes audio ahead)
CUES_KEPT = 20  # captions listed in captions.vtt and /api/streams
MPEGTS_OFFSET = 0  # 90 kHz ticks at encoder second 0: PyAV hands the muxer pts from 0 and it keeps them (tested)
MASTER = "master.m3u8"
CAPTIONS_PLAYLIST = "captions.m3u8"
CAPTIONS_FILE = "captions.vtt"


@dataclass(frozen=True)
class PlacedLine:
    first: int  # first sample on the encoder's audio timeline
    samples: np.ndarray
    levels: np.ndarray  # envelope per 1/fps
    cue: Cue
    wall_start: float  # time.time() when the line starts playing (for the page's captions)
    clip: object | None = None  # an EchoMimic clip (media.avatar.echomimic.Clip) shown while the line plays


class VoiceTrack:
    def __init__(self, folder: Path, fps: float):
        self.folder = Path(folder)
        self.fps = fps
        self._lines: deque[PlacedLine] = deque()
        self._cues: deque[tuple[Cue, float]] = deque(maxlen=CUES_KEPT)
        self._lock = threading.Lock()
        self._clock = 0.0  # encoder seconds of the current tick
        self._wall0: float | None = None  # time.time() of encoder second 0
        self._busy_until = 0  # sample where the last queued line ends
        self.lines_added = 0
        self._dirty = False

    # ------------------------------------------------------------------ desk thread
    def add(self, speech: Speech, clip: object | None = None) -> Cue:
        with self._lock:
            first = max(int((self._clock + LEAD_SECONDS) * SAMPLE_RATE), self._busy_until)
            self._busy_until = first + len(speech.samples)
            start = first / SAMPLE_RATE
            cue = Cue(start, self._busy_until / SAMPLE_RATE, speech.text)
            wall = (self._wall0 if self._wall0 is not None else time.time() - self._clock) + start
            line = PlacedLine(first, speech.samples, envelope(speech.samples, self.fps), cue, wall, clip)
            self._lines.append(line)
            self._cues.append((cue, wall))
            self.lines_added += 1
            self._dirty = True
        return cue

    # ------------------------------------------------------------------ encoder thread
    def tick(self, seconds: float) -> None:
        """The encoder is at `seconds` of its timeline; drops lines long finished, rewrites captions if new."""
        with self._lock:
            if self._wall0 is None:
                self._wall0 = time.time() - seconds
            self._clock = seconds
            done = int((seconds - 2.0) * SAMPLE_RATE)
            while self._lines and self._lines[0].first + len(self._lines[0].samples) < done:
                self._lines.popleft()
            dirty, self._dirty = self._dirty, False
            cues = [c for c, _ in self._cues]
        if dirty:
            self._write_captions(cues)

    def read(self, first: int, count: int) -> np.ndarray | None:
        """Samples [first, first + count) of the track, or None where nothing is spoken (silence)."""
        with self._lock:
            lines = [ln for ln in self._lines if ln.first < first + count and ln.first + len(ln.samples) > first]
        if not lines:
            return None
        out = np.zeros(count, np.float32)
        for ln in lines:
            a, b = max(first, ln.first), min(first + count, ln.first + len(ln.samples))
            out[a - first : b - first] = ln.samples[a - ln.first : b - ln.first]
        return np.clip(out, -1.0, 1.0)

    def level(self, seconds: float) -> float:
        """Loudness 0..1 at `seconds` of the encoder's timeline (0 when silent): the avatar's mouth."""
        return self.face(seconds)[0]

    def face(self, seconds: float) -> tuple[float, np.ndarray | None]:
        """(loudness 0..1, the clip frame to show or None) at `seconds` of the encoder's timeline."""
        s = int(seconds * SAMPLE_RATE)
        with self._lock:
            for ln in self._lines:
                if ln.first <= s < ln.first + len(ln.samples):
                    i = int((s - ln.first) * self.fps / SAMPLE_RATE)
                    level = float(ln.levels[min(i, len(ln.levels) - 1)])
                    clip = ln.clip
                    if clip is None:
                        return level, None
                    k = int((s - ln.first) / SAMPLE_RATE * clip.fps)
                    return level, clip.frames[min(k, len(clip.frames) - 1)]
        return 0.0, None

    def pending_seconds(self) -> float:
        """Seconds of queued speech the encoder has not reached yet (0 when nothing is left to say)."""
        with self._lock:
            return max(0.0, self._busy_until / SAMPLE_RATE - self._clock)

    def close(self) -> None:
        """The stream ended: the captions playlist gets #EXT-X-ENDLIST, as the video playlist does."""
        with self._lock:
            cues = [c for c, _ in self._cues]
        if cues:
            self._write_captions(cues, ended=True)

    # ------------------------------------------------------------------ read side
    def captions(self) -> list[dict]:
        """Recent captions with wall-clock times (the page matches them to hls.js's playing date)."""
        with self._lock:
            return [
                {"text": c.text, "at": round(wall, 3), "until": round(wall + c.end - c.start, 3)}
                for c, wall in self._cues
            ]

    def _write_captions(self, cues: list[Cue], ended: bool = False) -> None:
        """captions.vtt (every recent cue), its one-entry playlist and the master playlist that names both."""
        self.folder.mkdir(parents=True, exist_ok=True)
        length = max([c.end for c in cues] + [1.0])
        _atomic(self.folder / CAPTIONS_FILE, webvtt(cues, MPEGTS_OFFSET))
        _atomic(
            self.folder / CAPTIONS_PLAYLIST,
            "#EXTM3U\n#EXT-X-VERSION:3\n"
            f"#EXT-X-TARGETDURATION:{int(length) + 1}\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXTINF:{length:.3f},\n{CAPTIONS_FILE}\n" + ("#EXT-X-ENDLIST\n" if ended else ""),
        )
        _atomic(
            self.folder / MASTER,
            "#EXTM3U\n#EXT-X-VERSION:3\n"
            '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="captions",LANGUAGE="en",DEFAULT=YES,'
            f'AUTOSELECT=YES,URI="{CAPTIONS_PLAYLIST}"\n'
            '#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS="avc1.42c01e,mp4a.40.2",SUBTITLES="subs"\nindex.m3u8\n',
        )


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
