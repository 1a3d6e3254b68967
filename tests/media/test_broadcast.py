"""Broadcast output: what ffprobe reads from the HLS the Broadcaster writes, the rolling window, ENDLIST,
frame pacing and dropping, RTMP (to an FLV file and to a dead server) and a taken port."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from media.broadcast import BroadcastConfig, Broadcaster, BroadcastError

FPS = 8.0
SEG = 0.5  # short segments keep the tests fast; GOP = 4 frames


def ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.fail("ffprobe is not installed: run `make test`, which installs the Debian package ffmpeg")
    out = subprocess.run(
        [exe, "-v", "error", "-show_entries", "stream=codec_name,codec_type,width,height", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def frame(i: int, size: int = 128) -> np.ndarray:
    f = np.zeros((size, size, 3), np.uint8)
    f[:, (i * 5) % size] = 255
    f[(i * 3) % size, :, 1] = 200
    return f


def feed(b: Broadcaster, sid: str, seconds: float, fps: float = FPS, size: int = 128) -> int:
    n = int(seconds * fps)
    t0 = time.monotonic()
    for i in range(n):
        b.on_frame(sid, frame(i, size))
        time.sleep(max(0.0, t0 + (i + 1) / fps - time.monotonic()))
    return n


def seg_numbers(folder: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := re.match(r"seg_(\d+)\.ts$", p.name)))


@pytest.fixture(scope="module")
def ended(tmp_path_factory):
    """One stream fed for ~4 s with a 3-segment window, snapshot while live, then ended."""
    run = tmp_path_factory.mktemp("run")
    b = Broadcaster(BroadcastConfig(port=0, fps=FPS, segment_seconds=SEG, window_segments=3, output_height=0), run)
    b.add_stream("s01", "Alpha")
    feed(b, "s01", 4.0)
    folder = run / "streams" / "s01"
    live_playlist = (folder / "index.m3u8").read_text()
    live_segments = seg_numbers(folder)
    stats = b.stats()["streams"]["s01"]
    b.end_stream("s01")
    yield {"folder": folder, "live_playlist": live_playlist, "live_segments": live_segments, "stats": stats, "b": b}
    b.stop()


def test_ffprobe_reads_h264_and_aac_at_the_frame_size(ended):
    info = ffprobe(ended["folder"] / "index.m3u8")
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (128, 128)
    assert streams["audio"]["codec_name"] == "aac"


def test_segments_are_deleted_behind_the_window(ended):
    lines = ended["live_playlist"].splitlines()
    listed = [ln for ln in lines if ln.endswith(".ts")]
    assert len(listed) == 3
    assert "#EXT-X-ENDLIST" not in lines
    seq = int(next(ln for ln in lines if ln.startswith("#EXT-X-MEDIA-SEQUENCE:")).split(":")[1])
    assert seq >= 3  # ~8 segments were written, the first ones left the window...
    on_disk = ended["live_segments"]
    assert 0 not in on_disk and 1 not in on_disk  # ...and were deleted
    assert len(on_disk) <= 3 + 2  # window + ffmpeg's delete threshold (1) + the segment being written
    # Each segment is one GOP: EXTINF equals segment_seconds.
    durations = [float(ln.split(":")[1].rstrip(",")) for ln in lines if ln.startswith("#EXTINF:")]
    assert all(abs(d - SEG) < 1e-3 for d in durations), durations


def test_end_stream_writes_endlist(ended):
    text = (ended["folder"] / "index.m3u8").read_text()
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    assert ended["b"].stats()["streams"]["s01"]["status"] == "ended"


def test_stats_count_frames_and_latency(ended):
    s = ended["stats"]
    assert s["frames_queued"] == int(4.0 * FPS)
    assert s["frames_encoded"] >= s["frames_queued"] - 4
    assert s["encode_seconds"] > 0
    lat = s["latency_seconds"]
    assert lat is not None and lat["n"] > 0 and lat["max"] >= lat["p50"] > 0


def test_on_frame_drops_oldest_and_repeats_to_keep_real_time(tmp_path):
    cfg = BroadcastConfig(port=0, fps=FPS, segment_seconds=SEG, queue_frames=4)
    with Broadcaster(cfg, tmp_path) as b:
        b.add_stream("s01", "burst")
        for i in range(200):  # a burst far faster than real time (model timing does this)
            b.on_frame("s01", frame(i, 32))
        time.sleep(1.5)  # then nothing: the encoder repeats the last frame to keep the stream going
        s = b.stats()["streams"]["s01"]
        assert s["frames_queued"] == 200
        assert s["frames_dropped"] + s["frames_skipped"] >= 200 - 4 - 1 - 2
        assert s["frames_repeated"] >= 4
        assert s["frames_encoded"] >= 8
        b.on_frame("nope", frame(0))  # unknown streams and bad frames are counted, never raised
        b.on_frame("s01", np.zeros((4, 4), np.float32))
        assert b.stats()["frames_unknown"] == 1 and b.stats()["frames_invalid"] == 1


def test_frame_size_changes_are_scaled_to_the_first_size(tmp_path):
    with Broadcaster(BroadcastConfig(port=0, fps=FPS, segment_seconds=SEG, output_height=0), tmp_path) as b:
        b.add_stream("s01", "resize")
        for i in range(10):
            b.on_frame("s01", frame(i, 48 if i < 5 else 64))
            time.sleep(1 / FPS)
        b.end_stream("s01")
        info = ffprobe(tmp_path / "streams" / "s01" / "index.m3u8")
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (48, 48)
        assert b.stats()["streams"]["s01"]["status"] == "ended"


def test_rtmp_push_to_an_flv_target_and_a_dead_server_does_not_block(tmp_path):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there: connection refused
    flv = tmp_path / "push.flv"
    cfg = BroadcastConfig(
        port=0, fps=FPS, segment_seconds=SEG, rtmp={"s01": str(flv), "s02": f"rtmp://127.0.0.1:{dead_port}/live/key"}
    )
    with Broadcaster(cfg, tmp_path / "run") as b:
        b.add_stream("s01", "pushed")
        b.add_stream("s02", "pushed to nowhere")
        t0 = time.monotonic()
        for i in range(16):
            b.on_frame("s01", frame(i, 64))
            b.on_frame("s02", frame(i, 64))
            time.sleep(1 / FPS)
        assert time.monotonic() - t0 < 8  # on_frame never waited on either pusher
        s2 = b.stats()["streams"]["s02"]
        assert s2["rtmp"]["status"] in ("retrying", "connecting") and s2["rtmp"]["frames_sent"] == 0
        assert s2["frames_encoded"] > 0  # the HLS side is unaffected
        b.end_stream("s01")
        assert b.stats()["streams"]["s01"]["rtmp"]["frames_sent"] > 0
    info = ffprobe(flv)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}


def test_taken_port_is_one_clear_error(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        b = Broadcaster(BroadcastConfig(port=port), tmp_path)
        with pytest.raises(BroadcastError) as err:
            b.start()
        msg = str(err.value)
        assert "\n" not in msg and str(port) in msg and "in use" in msg
    finally:
        holder.close()


def test_bad_stream_id_and_config_are_rejected(tmp_path):
    b = Broadcaster(BroadcastConfig(port=0), tmp_path)
    for bad in ("../x", "a/b", "", "..", "x" * 65):
        with pytest.raises(BroadcastError):
            b.add_stream(bad, "x")
    with pytest.raises(ValueError):
        BroadcastConfig(rtmp={"s01": "http://example.com/x"})
    with pytest.raises(ValueError):
        BroadcastConfig(nope=1)
