"""WebVTT captions of the spoken lines, in the encoder's timeline (seconds from the stream's first frame).

Why WebVTT in its own HLS playlist: players (hls.js, Safari, VLC) and ffprobe find a subtitles rendition
through the master playlist; the cue text is untrusted (an LLM wrote it), so '<', '>' and '&' are escaped and
line breaks removed, as WebVTT requires for cue payloads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    start: float  # seconds from the stream's first encoded frame
    end: float
    text: str


def _ts(seconds: float) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def escape(text: str) -> str:
    one_line = " ".join(text.split()).replace("-->", "->")
    return one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt(cues: list[Cue], mpegts_offset: int = 0) -> str:
    """A WebVTT document; `mpegts_offset` (90 kHz ticks) maps cue time 0 to the media's first timestamp."""
    lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_offset},LOCAL:00:00:00.000", ""]
    for c in cues:
        lines += [f"{_ts(c.start)} --> {_ts(c.end)}", escape(c.text), ""]
    return "\n".join(lines)
