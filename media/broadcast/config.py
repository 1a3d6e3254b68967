"""Broadcast settings (embedded in the season YAML under `broadcast:`) and the one error a user can cause.

Defaults follow the issue: loopback only, a short rolling HLS window, a small encode fps (the generator makes a
few frames a second on CPU, so encoding more would only repeat frames).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Stream ids become folder names and URL parts: keep them to a boring, safe alphabet.
STREAM_ID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")
RTMP_SCHEMES = ("rtmp://", "rtmps://", "file:", "/")


class BroadcastError(RuntimeError):
    """A broadcast problem a user can fix (port taken, bad stream id): the message is one line."""


class BroadcastConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = Field("127.0.0.1", description="address to bind; loopback unless told otherwise")
    port: int = Field(8787, ge=0, le=65535, description="HTTP port (0 = any free port, for tests)")
    fps: float = Field(8.0, gt=0, le=60, description="encode fps; frames are repeated/dropped to keep real time")
    segment_seconds: float = Field(1.0, gt=0, le=10, description="HLS segment length (= x264 GOP length)")
    window_segments: int = Field(6, ge=2, le=100, description="segments listed in index.m3u8; older ones deleted")
    max_connections: int = Field(32, ge=1, le=1024, description="concurrent HTTP connections; 503 beyond")
    viewer_window_seconds: float = Field(
        6.0, gt=0, le=600, description="a viewer counts while its last 2 new-segment fetches are this recent"
    )
    viewers_per_address: int = Field(
        1, ge=1, le=64, description="viewer ids one client address can count for on one stream; more are ignored"
    )
    streams_per_address: int = Field(
        8, ge=1, le=1024, description="streams one client address can count on at once (the page plays the grid)"
    )
    viewer_table_size: int = Field(
        4096, ge=16, le=1_000_000, description="viewer ids tracked at once over all streams (bounds memory)"
    )
    rtmp: dict[str, str] = Field(
        default_factory=dict, description="stream_id -> rtmp(s):// URL to push to (or an .flv path: a recording)"
    )
    queue_frames: int = Field(16, ge=2, le=1024, description="per-stream frame queue (drop-oldest beyond)")
    rtmp_timeout_seconds: float = Field(10.0, gt=0, le=120, description="an RTMP push blocked this long is dropped")
    # Issue 18: players and platforms expect 480p-class video, not the generation size (64-128 px); the
    # encoder scales each frame once, on its own thread (cost: bench/broadcast.py).
    output_height: int = Field(
        480, ge=0, le=2160, description="broadcast height in pixels, aspect kept (HLS and RTMP); 0 = generation size"
    )
    scale_filter: Literal["bicubic", "lanczos", "bilinear", "area", "point"] = Field(
        "bicubic", description="swscale filter for that scaling (lanczos: sharper edges, about 4x the CPU)"
    )

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The encoded (width, height) for frames of this size: `output_height` with the aspect kept, even."""
        if not self.output_height:
            return width, height
        h = self.output_height + (self.output_height & 1)
        return max(2, round(width * h / height / 2) * 2), h

    @field_validator("rtmp")
    @classmethod
    def _check_rtmp(cls, v: dict[str, str]) -> dict[str, str]:
        for sid, url in v.items():
            if not STREAM_ID_RE.match(sid):
                raise ValueError(f"rtmp: bad stream id {sid!r}")
            if not url.startswith(RTMP_SCHEMES) or any(c in url for c in "\r\n\x00"):
                raise ValueError(f"rtmp.{sid}: expected an rtmp:// or rtmps:// URL (or a file path), got {url!r}")
        return v

    @model_validator(mode="after")
    def _check_viewer_window(self) -> BroadcastConfig:
        # A player fetches one new segment per segment_seconds and counts while its last two are in the window;
        # a window under 3 segments would make a steady viewer flicker in and out.
        if self.viewer_window_seconds < 3 * self.segment_seconds:
            raise ValueError(
                f"viewer_window_seconds ({self.viewer_window_seconds:g}) must be at least 3 x segment_seconds "
                f"({3 * self.segment_seconds:g}): a viewer counts while its last 2 segment fetches are that recent"
            )
        return self

    @property
    def gop(self) -> int:
        """Frames per segment: every segment starts on a keyframe, so the GOP is exactly one segment."""
        return max(1, round(self.fps * self.segment_seconds))
