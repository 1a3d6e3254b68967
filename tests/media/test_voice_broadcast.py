"""A streamer's voice and face on its broadcast: the HLS audio is loud where a line was said and silent
elsewhere (PyAV decode, RMS per second), the captions are a WebVTT rendition ffprobe reads, the avatar is in the
picture and moves its mouth while speaking, hiding it removes it. Real parts: espeak-ng speaks (fast), the voice
desk's thread synthesises, the stream worker encodes on its own clock."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import av
import numpy as np

from media.avatar.placement import AvatarPlacement
from media.broadcast import BroadcastConfig, Broadcaster
from media.broadcast.voice_track import CAPTIONS_FILE, CAPTIONS_PLAYLIST, MASTER, MPEGTS_OFFSET
from media.voice.profile import voice_profile
from media.voice.speech import SAMPLE_RATE

FPS = 8.0
SIZE = 96
BACKGROUND = (20, 40, 60)


def _decode(playlist: Path) -> tuple[np.ndarray, list[tuple[float, np.ndarray]]]:
    audio, video = [], []
    with av.open(str(playlist)) as c:
        for f in c.decode(audio=0):
            audio.append(f.to_ndarray().reshape(-1))
    with av.open(str(playlist)) as c:
        for f in c.decode(video=0):
            video.append((float(f.time), f.to_ndarray(format="rgb24")))
    return np.concatenate(audio), video


def _rms_per_second(a: np.ndarray) -> list[float]:
    return [
        float(np.sqrt((a[i * SAMPLE_RATE : (i + 1) * SAMPLE_RATE] ** 2).mean())) for i in range(len(a) // SAMPLE_RATE)
    ]


def test_spoken_line_is_heard_captioned_and_animated_where_it_was_said(tmp_path: Path):
    cfg = BroadcastConfig(enabled=True, port=0, fps=FPS, segment_seconds=0.5, window_segments=100, output_height=0)
    b = Broadcaster(cfg, tmp_path / "run")
    b.add_stream("s01", "Talker")
    portrait = np.zeros((64, 64, 3), np.uint8)
    portrait[..., 0] = 200
    b.set_face("s01", portrait, seed=3)
    b.place_avatar("s01", AvatarPlacement(x=0.75, y=0.75, size=0.9, visible=True))  # size clamped to 0.5
    profile = voice_profile("s01", "quick and bright", engine="espeak")
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    frame[:] = BACKGROUND
    said_at = hidden_at = None
    t0 = time.monotonic()
    try:
        for i in range(int(FPS * 9)):
            b.on_frame("s01", frame)
            if i == int(FPS * 2):
                assert b.say("s01", profile, "The storm is coming, stay with me.")
                said_at = time.monotonic() - t0
            if i == int(FPS * 7):
                b.place_avatar("s01", AvatarPlacement(visible=False))
                hidden_at = time.monotonic() - t0
            time.sleep(max(0.0, t0 + (i + 1) / FPS - time.monotonic()))
        rows = b.api_streams()
    finally:
        b.stop()
    folder = tmp_path / "run" / "streams" / "s01"
    vtt = (folder / CAPTIONS_FILE).read_text()
    cue = [ln for ln in vtt.splitlines() if "-->" in ln]
    assert len(cue) == 1 and "The storm is coming, stay with me." in vtt
    start, end = (_seconds(x) for x in cue[0].split(" --> "))
    assert said_at <= start + 0.5 < said_at + 4.0 and 1.0 < end - start < 5.0  # synthesis latency, loaded machine

    audio, video = _decode(folder / "index.m3u8")
    rms = _rms_per_second(audio)
    inside = [r for s, r in enumerate(rms) if start + 0.3 <= s and s + 1 <= end - 0.1]
    outside = [r for s, r in enumerate(rms) if s + 1 <= start - 0.1 or s >= end + 0.3]
    assert inside and min(inside) > 0.01, rms
    assert outside and max(outside) < 1e-3, rms

    # ffprobe reads the captions rendition; the master playlist names it beside the audio/video playlist.
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "json",
            str(folder / CAPTIONS_PLAYLIST),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(probe.stdout)["streams"] == [{"codec_name": "webvtt", "codec_type": "subtitle"}]
    master = (folder / MASTER).read_text()
    assert "TYPE=SUBTITLES" in master and f'URI="{CAPTIONS_PLAYLIST}"' in master and "index.m3u8" in master
    first = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=start_time",
            "-of",
            "csv=p=0",
            str(sorted(folder.glob("seg_*.ts"))[0]),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert round(float(first.stdout.split()[0]) * 90000) == MPEGTS_OFFSET  # the cue times map onto the media's

    # The avatar (clamped to half the frame, bottom right) is in the picture; its mouth opens only while speaking;
    # hidden, the picture is the stream's own again. The mouth is measured as the dark pixels in the band of the
    # face where the mouth is drawn (below the eyes, wider than the idle bob), so blinks and the bob, which move
    # the whole face in silence too, do not count.
    top, left, side = AvatarPlacement(x=0.75, y=0.75, size=0.9).clamped().box(SIZE, SIZE)
    box = (slice(top, top + side), slice(left, left + side))
    mouth_band = (slice(int(side * 0.56), int(side * 0.8)), slice(int(side * 0.36), int(side * 0.64)))

    def region(t0_: float, t1_: float) -> list[np.ndarray]:
        return [img[box].astype(np.int16) for t, img in video if t0_ <= t < t1_]

    def mouth_pixels(img: np.ndarray) -> int:
        return int((img[mouth_band].sum(axis=2) < 300).sum())  # the face is ~430, the drawn mouth ~140

    silent = region(0.5, start - 0.3)
    speaking = region(start + 0.3, end - 0.3)
    hidden = region(hidden_at + 1.0, 99)
    assert silent and speaking and hidden
    assert np.abs(silent[-1] - np.array(BACKGROUND)).mean() > 30  # a face, not the background
    closed = max(mouth_pixels(f) for f in silent)
    opened = [mouth_pixels(f) for f in speaking]
    assert max(opened) > 2 * closed + 10, (closed, opened)
    assert sum(n > closed for n in opened) >= len(opened) // 4, (closed, opened)  # it moves through the line
    assert max(np.abs(f - np.array(BACKGROUND)).mean() for f in hidden) < 4  # x264's error only
    assert rows[0]["captions"][0]["text"] == "The storm is coming, stay with me."
    assert rows[0]["avatar"] == "/streams/s01/avatar.png" and (folder / "avatar.png").is_file()


def _seconds(ts: str) -> float:
    h, m, s = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)
