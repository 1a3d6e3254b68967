"""The camera's effect and cost (media.camera): prints ONE JSON object; never run by `make test`.

For each img2img strength and camera mode (off, zoom in, pan, rotate at the default season limits: x1.25 per
second, 0.25 frame widths per second, 30 degrees per second) a fresh StreamEngine with the embedded generator
runs the same streams (same prompts, seeds, 64 px, 1 step, 8 fps) for a few rounds in "model" timing (so the
frames are reproducible and no time is slept) and reports, averaged over the rounds and streams:
  - what the audience perceives (arena.round.stream_views' measures): motion (media.perception.motion of the
    engine's mean frame difference; the audience's boredom term grows while it stays under
    AudienceConfig.motion_floor), detail and speckle of the sampled frames at display size;
  - consistency (media.metrics): flicker (VBench, 1 = static), ssim of consecutive output frames, stability
    (the audience's stability measure), drift (feature distance of the latest 16 sampled frames from the
    first 16) and quality_drift at the end;
  - cost: generated frames per wall second of engine.advance (generation, warps, buffers, metrics), and the
    warp alone (media.camera.apply_camera on one batch of the run's size) in ms.
Wall timings share a 2-core CPU with other work: compare modes within one run (the JSON records the load).

Run:
  .venv/bin/python bench/camera.py                      # ~1-2 min on 2 cores
  .venv/bin/python bench/camera.py --rounds 2 --strengths 0.6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media import perception  # noqa: E402
from media.camera import apply_camera, keyframe_seconds  # noqa: E402
from media.cost_model import CostModel  # noqa: E402
from media.embedding import get_text_embedder  # noqa: E402
from media.engine import StreamEngine  # noqa: E402
from media.generator import GeneratorConfig, TinyDiffusionGenerator  # noqa: E402
from media.settings import GeneratorLimits, StreamSettings  # noqa: E402

PROMPTS = ("a quiet forest at dawn", "ocean waves on a beach", "a neon city street at night", "a space nebula")


def modes(lim: GeneratorLimits) -> dict[str, dict[str, float]]:
    return {
        "off": {},
        "zoom_in": {"zoom_per_second": lim.camera_zoom_max},
        "pan": {"pan_x": lim.camera_pan_max},
        "rotate": {"rotate_degrees_per_second": lim.camera_rotate_max},
    }


def run_mode(gen, embedder, camera: dict, args, strength: float) -> dict:
    engine = StreamEngine(gen, embedder, CostModel(), timing="model")
    for i in range(args.streams):
        s = StreamSettings(
            prompt=PROMPTS[i % len(PROMPTS)],
            resolution=args.resolution,
            steps=1,
            fps=args.fps,
            strength=strength,
            **camera,
        )
        engine.add_stream(f"s{i}", (lambda s=s: s), seed=i)
    rows: dict[str, list[float]] = {}
    frames = 0
    wall = 0.0
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        reports = engine.advance(args.round_seconds)
        wall += time.perf_counter() - t0
        for rep in reports.values():
            frames += rep.frames_generated
            m = rep.metrics
            sample = rep.frame_sample if len(rep.frame_sample) else rep.thumbnail[None]
            for k, v in {
                "motion": perception.motion(255.0 * (1.0 - m["flicker"])),
                "detail": perception.detail(sample),
                "speckle": perception.speckle(sample),
                "flicker": m["flicker"],
                "ssim": m["ssim"],
                "stability": m["stability"],
            }.items():
                rows.setdefault(k, []).append(v)
    out = {k: round(statistics.fmean(v), 4) for k, v in rows.items()}
    last = list(reports.values())
    out["drift_end"] = round(statistics.fmean(r.metrics["drift"] for r in last), 4)
    out["quality_drift_end"] = round(statistics.fmean(r.metrics["quality_drift"] for r in last), 4)
    out["frames_generated"] = frames
    out["generated_fps_wall"] = round(frames / wall, 2)
    return out


def warp_ms(settings: StreamSettings, streams: int, resolution: int, repeats: int = 50) -> float:
    batch = np.random.default_rng(0).integers(0, 256, (streams, resolution, resolution, 3), dtype=np.uint8)
    seconds = [keyframe_seconds(settings)] * streams
    apply_camera(batch, [settings] * streams, seconds)
    t0 = time.perf_counter()
    for _ in range(repeats):
        apply_camera(batch, [settings] * streams, seconds)
    return round(1000 * (time.perf_counter() - t0) / repeats, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--fps", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--round-seconds", type=float, default=6.0)
    ap.add_argument("--strengths", default="0.6,0.3", help="img2img strengths, comma-separated (0.6: the default)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    embedder = get_text_embedder()
    gen = TinyDiffusionGenerator(GeneratorConfig(), embedder)
    lim = GeneratorLimits()
    out: dict = {
        "command": " ".join(["bench/camera.py", *sys.argv[1:]]),
        "setup": {
            "streams": args.streams,
            "resolution": args.resolution,
            "steps": 1,
            "fps": args.fps,
            "rounds": args.rounds,
            "round_seconds": args.round_seconds,
            "timing": "model",
            "torch_threads": args.threads,
            "cpu_count": os.cpu_count(),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        },
        "modes": {k: v or {"camera": "still"} for k, v in modes(lim).items()},
        "by_strength": {},
    }
    run_mode(gen, embedder, {}, argparse.Namespace(**{**vars(args), "rounds": 1, "round_seconds": 1.0}), 0.6)  # warm-up
    for strength in (float(x) for x in args.strengths.split(",")):
        out["by_strength"][str(strength)] = {
            name: run_mode(gen, embedder, camera, args, strength) for name, camera in modes(lim).items()
        }
        print(json.dumps({strength: "done"}), file=sys.stderr, flush=True)
    out["warp_ms_per_batch"] = {
        name: warp_ms(StreamSettings(fps=args.fps, **camera), args.streams, args.resolution)
        for name, camera in modes(lim).items()
        if camera
    }
    out["setup"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
