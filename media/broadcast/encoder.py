"""One PyAV output: H.264 (libx264 ultrafast/zerolatency) video plus an AAC track: the streamer's voice where
it speaks (`audio_source`, media.broadcast.voice_track), silence elsewhere.

Why always an audio track: many players (and hls.js on some browsers) treat a stream without audio differently (autoplay,
A/V sync, stalls waiting for audio); a silent track keeps every player on the common path. Why one thread and
one x264 thread: frames are tiny (64-256 px); x264's thread pool would cost more than it saves and would hide
CPU time from the per-thread accounting the bench reports.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 22050  # Piper medium voices speak at 22.05 kHz; AAC in HLS and MSE accepts it
AUDIO_SAMPLES = 1024  # one AAC frame
AUDIO_LEAD_SECONDS = 0.25  # audio is written a little ahead so the muxer's interleaving never holds video back


def even(n: int) -> int:
    """x264 with yuv420p needs even sizes."""
    return max(2, int(n) + (int(n) & 1))


class AvEncoder:
    """Encodes RGB frames at given frame indices (pts in 1/fps units) into an opened output container."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        width: int,
        height: int,
        fps: float,
        gop: int,
        scale_filter: str = "bicubic",
    ):
        self.container = container
        self.width, self.height = even(width), even(height)
        self.interpolation = scale_filter.upper()  # swscale's filter when a frame is not already this size
        self.rate = Fraction(fps).limit_denominator(1001)
        self.video = container.add_stream(
            "libx264",
            rate=self.rate,
            options={
                "preset": "ultrafast",
                "tune": "zerolatency",
                "g": str(gop),
                "keyint_min": str(gop),
                "sc_threshold": "0",
                "bf": "0",
                "threads": "1",
            },
        )
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = "yuv420p"
        self.video.codec_context.thread_count = 1
        self.video.codec_context.thread_type = "SLICE"
        self.audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        self.audio.codec_context.thread_count = 1
        self._audio_pts = 0
        # (first sample, count) -> float32 samples or None for silence; set by the stream's voice track
        self.audio_source: Callable[[int, int], np.ndarray | None] | None = None
        self.last_pts = -1

    def _audio_frame(self, first: int) -> av.AudioFrame:
        samples = self.audio_source(first, AUDIO_SAMPLES) if self.audio_source is not None else None
        if samples is None:
            f = av.AudioFrame(format="fltp", layout="mono", samples=AUDIO_SAMPLES)
            for plane in f.planes:
                plane.update(bytes(plane.buffer_size))
        else:
            f = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples, dtype=np.float32).reshape(1, AUDIO_SAMPLES), format="fltp", layout="mono"
            )
        f.sample_rate = AUDIO_RATE
        return f

    def encode(self, rgb: np.ndarray, pts: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode one frame at `pts` (must increase); returns the video packets muxed (for keyframe checks)."""
        if pts <= self.last_pts:
            raise ValueError(f"pts must increase: {pts} after {self.last_pts}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
        frame = frame.reformat(self.width, self.height, format="yuv420p", interpolation=self.interpolation)
        frame.pts = pts
        frame.time_base = 1 / self.rate
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        packets = self.video.encode(frame)
        self.container.mux(packets)
        self.last_pts = pts
        self._write_audio_until(float((pts + 1) / self.rate) + AUDIO_LEAD_SECONDS)
        return packets

    def _write_audio_until(self, seconds: float) -> None:
        while self._audio_pts < seconds * AUDIO_RATE:
            # A fresh frame each time: the encoder may keep a reference to the frame it was given.
            f = self._audio_frame(self._audio_pts)
            f.pts = self._audio_pts
            f.time_base = Fraction(1, AUDIO_RATE)
            self._audio_pts += AUDIO_SAMPLES
            self.container.mux(self.audio.encode(f))

    def close(self) -> None:
        """Flush both encoders and write the trailer (for HLS: the final segment and #EXT-X-ENDLIST)."""
        try:
            self.container.mux(self.video.encode(None))
            self.container.mux(self.audio.encode(None))
        finally:
            self.container.close()


def open_hls(
    folder: Path,
    width: int,
    height: int,
    fps: float,
    segment_seconds: float,
    window: int,
    scale_filter: str = "bicubic",
) -> AvEncoder:
    """Rolling HLS in `folder`: index.m3u8 + seg_NNNNN.ts, segments deleted behind the window."""
    folder.mkdir(parents=True, exist_ok=True)
    gop = max(1, round(fps * segment_seconds))
    container = av.open(
        str(folder / "index.m3u8"),
        mode="w",
        format="hls",
        options={
            # Cut at every keyframe: keyframes come exactly once per segment, so a hair under one segment
            # avoids a float tie at the boundary (which would make segments two GOPs long).
            "hls_time": f"{gop / fps * 0.9:.6f}",
            "hls_list_size": str(window),
            "hls_flags": "delete_segments+independent_segments+temp_file+program_date_time",
            "hls_segment_filename": str(folder / "seg_%05d.ts"),
        },
    )
    return AvEncoder(container, width, height, fps, gop, scale_filter)


def open_flv(url: str, width: int, height: int, fps: float, gop: int, scale_filter: str = "bicubic") -> AvEncoder:
    """FLV output (RTMP push or a file). FLV needs H.264 extradata, so the encoder gets a global header."""
    container = av.open(url, mode="w", format="flv")
    enc = AvEncoder(container, width, height, fps, gop, scale_filter)
    enc.video.codec_context.flags |= av.codec.context.Flags.global_header
    enc.audio.codec_context.flags |= av.codec.context.Flags.global_header
    return enc
