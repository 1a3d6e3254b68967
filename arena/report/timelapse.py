"""A timelapse per streamer: an MP4 of its output sampled once per round (the round's thumbnail), made with
PyAV (H.264, yuv420p, so browsers and players open it).

Why thumbnails: they are the only frames of the output a season keeps (HLS segments exist only when
broadcasting, and are a sliding window); one per round across the whole season is what a timelapse is.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from arena.report.data import SeasonData
from arena.report.filmstrip import load_tile, thumbnail_paths

SIZE = 128  # px, even (yuv420p)
FPS = 4  # rounds per second of timelapse


def write_timelapse(frames: list[Path], out: Path, fps: int = FPS, size: int = SIZE) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"preset": "veryfast", "crf": "18"})
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for i, path in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.asarray(load_tile(path, size)), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def timelapses(d: SeasonData, folder: Path, on_one=None) -> dict[int, Path]:
    """streamer id -> its MP4 under `folder` (`<slot>.mp4`), for every streamer with thumbnails on disk."""
    out = {}
    for s in d.scored_streamers():
        frames = [p for _, p in thumbnail_paths(d, s.id)]
        if frames:
            path = folder / f"{s.slot}.mp4"
            write_timelapse(frames, path)
            out[s.id] = path
        if on_one is not None:
            on_one()
    return out
