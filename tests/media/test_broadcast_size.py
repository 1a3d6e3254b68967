"""Issue 18: HLS and RTMP carry a broadcast size (480p by default, aspect kept), not the generation size."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pydantic import ValidationError

from media.broadcast import BroadcastConfig, Broadcaster
from tests.media.test_broadcast import FPS, SEG, ffprobe, frame


def test_output_size_keeps_the_aspect_and_is_even():
    cfg = BroadcastConfig()
    assert cfg.output_height == 480
    assert cfg.output_size(64, 64) == (480, 480)
    assert cfg.output_size(96, 64) == (720, 480)
    assert cfg.output_size(63, 64) == (472, 480)  # 472.5 -> the nearest even width
    assert BroadcastConfig(output_height=0).output_size(64, 48) == (64, 48)
    assert BroadcastConfig(output_height=721).output_size(128, 128) == (722, 722)
    with pytest.raises(ValidationError):
        BroadcastConfig(output_height=-1)
    with pytest.raises(ValidationError):
        BroadcastConfig(scale_filter="sharpest")


def test_hls_and_rtmp_are_scaled_to_the_output_size(tmp_path):
    flv = tmp_path / "push.flv"
    cfg = BroadcastConfig(port=0, fps=FPS, segment_seconds=SEG, output_height=360, rtmp={"s01": str(flv)})
    with Broadcaster(cfg, tmp_path / "run") as b:
        b.add_stream("s01", "scaled")
        for i in range(12):
            b.on_frame("s01", frame(i, 64))
            time.sleep(1 / FPS)
        b.end_stream("s01")
        assert b.stats()["streams"]["s01"]["rtmp"]["frames_sent"] > 0
    for path in (tmp_path / "run" / "streams" / "s01" / "index.m3u8", flv):
        video = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (360, 360), path.name


def test_the_scaled_picture_is_the_frame_not_a_crop(tmp_path):
    """Decode the 480p HLS: a frame whose left half is red and right half blue stays so, scaled."""
    import av

    f = np.zeros((64, 64, 3), np.uint8)
    f[:, :32, 0] = 220
    f[:, 32:, 2] = 220
    with Broadcaster(BroadcastConfig(port=0, fps=FPS, segment_seconds=SEG), tmp_path) as b:
        b.add_stream("s01", "halves")
        for _ in range(8):
            b.on_frame("s01", f)
            time.sleep(1 / FPS)
        b.end_stream("s01")
    with av.open(str(tmp_path / "streams" / "s01" / "index.m3u8")) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert img.shape == (480, 480, 3)
    left, right = img[:, 40:200].mean(axis=(0, 1)), img[:, 280:440].mean(axis=(0, 1))
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]
