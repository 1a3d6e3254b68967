"""`avatar: echomimic`: talking-head clips from a user's EchoMimic checkout and weights, on a GPU.

Why rendered ahead and optional: EchoMimic is a diffusion video model, far from real time (the accelerated path
is about 50 s per 120 frames on an A100), so each spoken line is rendered as a clip while the stream goes on;
the line is heard with its clip when the clip is ready (or without it after `wait_seconds`), and the embedded
animator covers everything else. The stream never waits. EchoMimic is the user's (its checkout, its weights, its
Python environment: the `[echomimic]` extra lists what it imports beyond this project); without the checkout,
the weights or a GPU the season stops at start with one line (`check`), never mid-season.

The command is EchoMimic's own audio-to-video script (`infer_audio2vid_acc.py`: 6 steps, cfg 1) with a config
file written per line whose `test_cases` maps the portrait to the line's WAV; the clip is the newest MP4 the
script writes under `<checkout>/output/` whose name starts with the portrait's and the WAV's names.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigError

WEIGHT_FILES = ("denoising_unet_acc.pth", "reference_unet.pth", "face_locator.pth", "motion_module_acc.pth")
WEIGHT_DIRS = ("sd-vae-ft-mse", "sd-image-variations-diffusers", "audio_processor")
AUDIO_RATE = 16000  # EchoMimic's whisper audio features take 16 kHz


class EchoMimicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkout: str = Field(description="the EchoMimic git checkout (holds infer_audio2vid_acc.py)")
    weights: str | None = Field(
        None, description="its pretrained_weights folder; default <checkout>/pretrained_weights"
    )
    python: str = Field("python", description="the Python of EchoMimic's environment")
    script: str = "infer_audio2vid_acc.py"
    size: int = Field(256, ge=64, le=1024, description="clip width and height (multiples of 8)")
    steps: int = Field(6, ge=1, le=50)
    cfg: float = Field(1.0, ge=0, le=10)
    fps: int = Field(24, ge=1, le=60)
    device: str = "cuda"
    seed: int = 420
    wait_seconds: float = Field(90.0, ge=0, le=3600, description="a line waits this long for its clip, then plays")
    timeout_seconds: float = Field(900.0, gt=0, le=7200, description="a render running longer is abandoned")

    @property
    def weights_dir(self) -> Path:
        return (
            Path(self.weights).expanduser() if self.weights else Path(self.checkout).expanduser() / "pretrained_weights"
        )


def check(cfg: EchoMimicConfig, gpu_available: bool | None = None) -> None:
    """One ConfigError line naming what is missing: the checkout, its script, a weight, or a GPU."""
    root = Path(cfg.checkout).expanduser()
    if not (root / cfg.script).is_file():
        raise ConfigError(
            f"avatar: echomimic: no EchoMimic checkout at {str(root)!r} ({cfg.script} not found); "
            "see README 'EchoMimic avatars'"
        )
    missing = [n for n in WEIGHT_FILES if not (cfg.weights_dir / n).is_file()]
    missing += [n for n in WEIGHT_DIRS if not (cfg.weights_dir / n).is_dir()]
    if missing:
        raise ConfigError(f"avatar: echomimic: weights missing in {str(cfg.weights_dir)!r}: {', '.join(missing)}")
    if cfg.device.startswith("cuda"):
        if gpu_available is None:
            import torch

            gpu_available = torch.cuda.is_available()
        if not gpu_available:
            raise ConfigError("avatar: echomimic needs a CUDA GPU and none is visible; use avatar: embedded")


@dataclass(frozen=True)
class ClipJob:
    portrait: Path  # PNG
    audio: Path  # WAV, 16 kHz mono
    config_file: Path
    argv: list[str]


def write_wav(samples: np.ndarray, rate: int, path: Path) -> Path:
    """Mono float samples -> 16-bit WAV at EchoMimic's rate."""
    from media.voice.speech import resample

    x = resample(samples, rate, AUDIO_RATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AUDIO_RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def job_config(cfg: EchoMimicConfig, portrait: Path, audio: Path) -> dict:
    """EchoMimic's inference config (its `configs/prompts/animation_acc.yaml` layout) for one line."""
    w = cfg.weights_dir
    return {
        "pretrained_base_model_path": str(w / "sd-image-variations-diffusers"),
        "pretrained_vae_path": str(w / "sd-vae-ft-mse"),
        "audio_model_path": str(w / "audio_processor" / "whisper_tiny.pt"),
        "denoising_unet_path": str(w / "denoising_unet_acc.pth"),
        "reference_unet_path": str(w / "reference_unet.pth"),
        "face_locator_path": str(w / "face_locator.pth"),
        "motion_module_path": str(w / "motion_module_acc.pth"),
        "inference_config": "./configs/inference/inference_v2.yaml",
        "weight_dtype": "fp16",
        "test_cases": {str(portrait): [str(audio)]},
    }


def clip_job(cfg: EchoMimicConfig, portrait: Path, audio: Path, work: Path) -> ClipJob:
    """The config file and the command line that render one line's clip (run with cwd = the checkout)."""
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / f"{audio.stem}.yaml"
    config_file.write_text(yaml.safe_dump(job_config(cfg, portrait, audio), sort_keys=True))
    seconds = _wav_seconds(audio)
    frames = max(cfg.fps, int(np.ceil(seconds * cfg.fps)))
    argv = [cfg.python, "-u", cfg.script, "--config", str(config_file)]
    argv += ["-W", str(cfg.size), "-H", str(cfg.size), "-L", str(frames), "--seed", str(cfg.seed)]
    argv += ["--cfg", f"{cfg.cfg:g}", "--steps", str(cfg.steps), "--fps", str(cfg.fps), "--device", cfg.device]
    argv += ["--sample_rate", str(AUDIO_RATE)]
    return ClipJob(portrait, audio, config_file, argv)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def find_clip(checkout: Path, job: ClipJob, after: float) -> Path | None:
    """The newest clip the script wrote for this job (modified after `after`), preferring the silent one."""
    prefix = f"{job.portrait.stem}_{job.audio.stem}"
    found = [p for p in (Path(checkout).expanduser() / "output").rglob(f"{prefix}*.mp4") if p.stat().st_mtime >= after]
    found.sort(key=lambda p: ("withaudio" in p.name, -p.stat().st_mtime))
    return found[0] if found else None


def run_job(cfg: EchoMimicConfig, job: ClipJob, started: float) -> Path:
    out = subprocess.run(
        job.argv, cwd=Path(cfg.checkout).expanduser(), capture_output=True, timeout=cfg.timeout_seconds
    )
    if out.returncode != 0:
        tail = out.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"EchoMimic exited {out.returncode}: {tail[0][:200]}")
    clip = find_clip(Path(cfg.checkout), job, started)
    if clip is None:
        raise RuntimeError("EchoMimic finished but wrote no clip under output/")
    return clip


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # (N, side, side, 3) uint8, resized for the avatar box
    fps: float


def ingest_clip(path: Path, side: int) -> Clip:
    """Decode an EchoMimic MP4 into square frames of `side` px (centre crop, nearest resize)."""
    frames = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate or 24)
        for f in c.decode(video=0):
            img = f.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            s = min(h, w)
            img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
            idx = np.arange(side) * s // side
            frames.append(img[idx][:, idx])
    if not frames:
        raise ValueError(f"clip {path.name} has no video frames")
    return Clip(np.stack(frames), fps)


class EchoMimicRenderer:
    """Renders each spoken line's clip on its own thread, one at a time, and hands the line on with its clip
    (or without it once the line has waited `wait_seconds`, or when the render fails)."""

    def __init__(self, cfg: EchoMimicConfig, work_dir: Path, side: int = 128):
        import queue
        import threading

        self.cfg, self.work_dir, self.side = cfg, Path(work_dir), side
        self._jobs: queue.Queue = queue.Queue()
        self.clips_done = 0
        self.clips_failed = 0
        self.last_error: str | None = None
        self._n = 0
        self._thread = threading.Thread(target=self._run, name="echomimic", daemon=True)
        self._thread.start()

    def render(self, portrait: Path, samples: np.ndarray, rate: int, deliver) -> None:
        """Queue a line: `deliver(clip or None)` is called once, from the renderer's thread."""
        import time

        self._n += 1
        audio = write_wav(samples, rate, self.work_dir / f"line{self._n:05d}.wav")
        self._jobs.put((portrait, audio, deliver, time.monotonic()))

    def _run(self) -> None:
        import time

        while True:
            portrait, audio, deliver, queued = self._jobs.get()
            clip = None
            left = self.cfg.wait_seconds - (time.monotonic() - queued)
            if left > 1.0:
                try:
                    job = clip_job(self.cfg, Path(portrait), audio, self.work_dir)
                    started = time.time() - 1.0
                    limited = self.cfg.model_copy(update={"timeout_seconds": min(self.cfg.timeout_seconds, left)})
                    clip = ingest_clip(run_job(limited, job, started), self.side)
                    self.clips_done += 1
                except Exception as exc:  # a failed or late clip: the line plays with the embedded animator
                    self.clips_failed += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            try:
                deliver(clip)
            finally:
                self._jobs.task_done()

    def idle(self, timeout: float = 60.0) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._jobs.unfinished_tasks
