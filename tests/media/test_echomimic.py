"""`avatar: echomimic` without a GPU: the start check names what is missing in one line, the command line and
config are EchoMimic's, and a stand-in checkout (a script that takes EchoMimic's arguments and writes an MP4
where EchoMimic writes its clips) is run for real; its clip is ingested and shown in the avatar's box while
the line is heard."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from common.errors import ConfigError
from media.avatar.animator import Animator
from media.avatar.echomimic import (
    WEIGHT_DIRS,
    WEIGHT_FILES,
    EchoMimicConfig,
    EchoMimicRenderer,
    check,
    clip_job,
    write_wav,
)
from media.avatar.placement import AvatarPlacement
from media.broadcast.voice_track import VoiceTrack
from media.voice.speech import SAMPLE_RATE, Speech

# What EchoMimic's infer_audio2vid_acc.py does, for the test: parse its arguments, read the config's test case,
# and write a clip (a green square growing frame by frame) as output/<date>/<run>/<ref>_<audio>_<W>x<H>_<cfg>_<t>.mp4.
STAND_IN = textwrap.dedent(
    """
    import argparse, pathlib, yaml, av, numpy as np
    p = argparse.ArgumentParser()
    p.add_argument("--config"); p.add_argument("-W", type=int); p.add_argument("-H", type=int)
    p.add_argument("-L", type=int); p.add_argument("--seed", type=int); p.add_argument("--cfg", type=float)
    p.add_argument("--steps", type=int); p.add_argument("--fps", type=int); p.add_argument("--device")
    p.add_argument("--sample_rate", type=int)
    a = p.parse_args()
    cfg = yaml.safe_load(open(a.config))
    assert pathlib.Path(cfg["denoising_unet_path"]).is_file()
    (ref, audios), = cfg["test_cases"].items()
    out = pathlib.Path("output/20260101/run")
    out.mkdir(parents=True, exist_ok=True)
    name = f"{pathlib.Path(ref).stem}_{pathlib.Path(audios[0]).stem}_{a.W}x{a.H}_{int(a.cfg)}_0000.mp4"
    c = av.open(str(out / name), "w")
    s = c.add_stream("libx264", rate=a.fps); s.width, s.height, s.pix_fmt = a.W, a.H, "yuv420p"
    for i in range(a.L):
        img = np.zeros((a.H, a.W, 3), np.uint8); img[: (i + 1) * a.H // a.L, :, 1] = 220
        c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
    c.mux(s.encode(None)); c.close()
    """
)


def _checkout(tmp_path: Path) -> EchoMimicConfig:
    root = tmp_path / "EchoMimic"
    (root / "pretrained_weights").mkdir(parents=True)
    for n in WEIGHT_FILES:
        (root / "pretrained_weights" / n).write_bytes(b"w")
    for n in WEIGHT_DIRS:
        (root / "pretrained_weights" / n).mkdir()
    (root / "infer_audio2vid_acc.py").write_text(STAND_IN)
    return EchoMimicConfig(checkout=str(root), python=sys.executable, size=64, fps=12, device="cpu")


def test_start_check_is_one_line_for_each_missing_part(tmp_path: Path):
    with pytest.raises(ConfigError, match="no EchoMimic checkout at") as err:
        check(EchoMimicConfig(checkout=str(tmp_path / "none")))
    assert "\n" not in str(err.value)
    cfg = _checkout(tmp_path)
    (Path(cfg.checkout) / "pretrained_weights" / "face_locator.pth").unlink()
    with pytest.raises(ConfigError, match="weights missing in .*face_locator.pth"):
        check(cfg)
    (Path(cfg.checkout) / "pretrained_weights" / "face_locator.pth").write_bytes(b"w")
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        check(cfg.model_copy(update={"device": "cuda"}), gpu_available=False)
    check(cfg)  # device cpu: the stand-in needs no GPU


def test_command_line_and_config_are_echomimics(tmp_path: Path):
    cfg = _checkout(tmp_path)
    wav = write_wav(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE, tmp_path / "w" / "line00001.wav")
    job = clip_job(cfg.model_copy(update={"device": "cuda", "fps": 24}), tmp_path / "face.png", wav, tmp_path / "w")
    assert job.argv[:4] == [sys.executable, "-u", "infer_audio2vid_acc.py", "--config"]
    args = dict(zip(job.argv[3::2], job.argv[4::2], strict=True))
    assert args["-L"] == "24" and args["-W"] == args["-H"] == "64" and args["--steps"] == "6"
    assert args["--device"] == "cuda" and args["--sample_rate"] == "16000"
    written = yaml.safe_load(job.config_file.read_text())
    assert written["test_cases"] == {str(tmp_path / "face.png"): [str(wav)]}
    assert written["motion_module_path"].endswith("pretrained_weights/motion_module_acc.pth")


def test_a_stand_in_clip_is_rendered_ingested_and_shown_while_the_line_plays(tmp_path: Path):
    cfg = _checkout(tmp_path)
    renderer = EchoMimicRenderer(cfg, tmp_path / "work", side=32)
    got = []
    speech = Speech("hello", 0.1 * np.sin(np.arange(SAMPLE_RATE) * 0.2).astype(np.float32), "espeak")
    renderer.render(tmp_path / "face.png", speech.samples, SAMPLE_RATE, got.append)
    assert renderer.idle(60) and renderer.clips_failed == 0, renderer.last_error
    clip = got[0]
    assert clip is not None and clip.frames.shape == (12, 32, 32, 3) and clip.fps == 12
    assert clip.frames[0, :, :, 1].mean() < clip.frames[-1, :, :, 1].mean()  # the clip's own motion survives

    track = VoiceTrack(tmp_path / "hls", fps=8)
    track.tick(0.0)
    cue = track.add(speech, clip)
    _, during = track.face(cue.start + 0.9)
    assert during is not None and during[:, :, 1].mean() > 150  # late in the clip: mostly green
    assert track.face(cue.end + 0.5) == (0.0, None)
    frame = np.zeros((64, 64, 3), np.uint8)
    shown = Animator(np.zeros((8, 8, 3), np.uint8)).composite_image(frame, during, AvatarPlacement(0.5, 0.5, 0.5))
    assert shown[32, 32, 1] > 150 and shown[0, 0, 1] == 0


def test_a_failing_render_lets_the_line_play_without_a_clip(tmp_path: Path):
    cfg = _checkout(tmp_path)
    (Path(cfg.checkout) / "infer_audio2vid_acc.py").write_text("raise SystemExit('CUDA out of memory')")
    renderer = EchoMimicRenderer(cfg, tmp_path / "work")
    got = []
    t0 = time.monotonic()
    renderer.render(tmp_path / "face.png", np.zeros(1000, np.float32), SAMPLE_RATE, got.append)
    assert renderer.idle(30) and got == [None] and time.monotonic() - t0 < 30
    assert "CUDA out of memory" in renderer.last_error
