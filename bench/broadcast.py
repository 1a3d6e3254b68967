"""Broadcast benchmark: prints one JSON object.

- `encoder`: 8 streams of 128x128 at 8 fps for ~20 s, fed in real time with synthetic scenes. Per stream:
  CPU seconds of its encoder thread / wall seconds (target <= 0.10 of one core per stream), frames
  queued/encoded/dropped, and generation-to-playlist latency (time from on_frame to the segment holding that
  frame appearing in index.m3u8). Also the whole process's CPU share over the run. Run once per
  --output-heights value (issue 18: 0 = the generation size, 480 = the default broadcast size, scaled with
  the default bicubic filter; add `--scale-filter lanczos` to price the sharper one).
- `ttcp`: a StreamEngine in wall timing driving the Broadcaster's on_frame, vs the same engine without it:
  each stream's TTCP (time to content-positive) and generated fps, so the cost of broadcasting on generation
  shows up where it matters.

Usage: .venv/bin/python bench/broadcast.py [--seconds 20] [--streams 8] [--ttcp-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.broadcast import BroadcastConfig, Broadcaster  # noqa: E402
from media.sources import SyntheticScene  # noqa: E402
from media.trends import DEFAULT_TOPICS  # noqa: E402


def bench_encoder(
    streams: int, resolution: int, fps: float, seconds: float, output_height: int = 480, scale_filter: str = "bicubic"
) -> dict:
    ids = [f"s{i:02d}" for i in range(streams)]
    clips = {
        sid: SyntheticScene(DEFAULT_TOPICS[i % len(DEFAULT_TOPICS)], seed=i).frames(0.0, 32, fps, resolution)
        for i, sid in enumerate(ids)
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = BroadcastConfig(
            enabled=True,
            port=0,
            fps=fps,
            segment_seconds=1.0,
            window_segments=6,
            output_height=output_height,
            scale_filter=scale_filter,
        )
        b = Broadcaster(cfg, tmp)
        b.start()
        for sid in ids:
            b.add_stream(sid, sid)
        on_frame_seconds = []
        wall0, cpu0 = time.perf_counter(), time.process_time()
        k = 0
        while time.perf_counter() - wall0 < seconds:
            for sid in ids:
                t = time.perf_counter()
                b.on_frame(sid, clips[sid][k % 32])
                on_frame_seconds.append(time.perf_counter() - t)
            k += 1
            time.sleep(max(0.0, wall0 + k / fps - time.perf_counter()))
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        stats = b.stats()["streams"]
        b.stop()
    per = {}
    for sid, s in stats.items():
        lat = s["latency_seconds"] or {}
        per[sid] = {
            "cpu_share": round(s["encode_seconds"] / wall, 4),
            "frames_queued": s["frames_queued"],
            "frames_encoded": s["frames_encoded"],
            "frames_dropped": s["frames_dropped"] + s["frames_skipped"],
            "frames_repeated": s["frames_repeated"],
            "latency_mean_s": round(lat.get("mean", float("nan")), 3),
            "latency_max_s": round(lat.get("max", float("nan")), 3),
        }
    shares = [p["cpu_share"] for p in per.values()]
    lats = [p["latency_mean_s"] for p in per.values()]
    return {
        "streams": streams,
        "resolution": resolution,
        "output_size": list(cfg.output_size(resolution, resolution)),
        "scale_filter": scale_filter,
        "fps": fps,
        "wall_seconds": round(wall, 2),
        "cpu_share_per_stream_mean": round(statistics.mean(shares), 4),
        "cpu_share_per_stream_max": round(max(shares), 4),
        "cpu_share_target": 0.10,
        "process_cpu_share_total": round(cpu / wall, 4),
        "on_frame_seconds_max": round(max(on_frame_seconds), 6),
        "latency_mean_s": round(statistics.mean(lats), 3),
        "latency_max_s": round(max(p["latency_max_s"] for p in per.values()), 3),
        "per_stream": per,
    }


def _engine_run(streams: int, resolution: int, fps: float, seconds: float, broadcast: bool) -> dict:
    import torch

    from media.cost_model import CostModel
    from media.embedding import get_text_embedder
    from media.engine import StreamEngine
    from media.generator import TinyDiffusionGenerator
    from media.settings import StreamSettings

    embedder = get_text_embedder()
    gen = TinyDiffusionGenerator(None, embedder)
    prompts = [f"{DEFAULT_TOPICS[i % 8]}, live" for i in range(streams)]
    gen.generate(embedder.embed(prompts), resolution, 1, [torch.Generator().manual_seed(i) for i in range(streams)])
    engine = StreamEngine(gen, embedder, CostModel(), timing="wall", buffer_seconds=2.0)
    with tempfile.TemporaryDirectory() as tmp:
        b = Broadcaster(BroadcastConfig(enabled=True, port=0, fps=8.0), tmp) if broadcast else None
        if b is not None:
            b.start()
        for i in range(streams):
            s = StreamSettings(prompt=prompts[i], resolution=resolution, steps=1, fps=fps)
            engine.add_stream(f"s{i:02d}", (lambda s=s: s), seed=i)
            if b is not None:
                b.add_stream(f"s{i:02d}", f"streamer {i}")
        t0 = time.perf_counter()
        reports = engine.advance(seconds, on_frame=b.on_frame if b is not None else None)
        wall = time.perf_counter() - t0
        bstats = b.stats() if b is not None else None
        if b is not None:
            b.stop()
    out = {
        "ttcp_s": {sid: (None if r.ttcp is None else round(r.ttcp, 3)) for sid, r in reports.items()},
        "generated_fps_total": round(sum(r.frames_generated for r in reports.values()) / wall, 2),
        "stall_seconds_total": round(sum(r.stall_seconds for r in reports.values()), 3),
    }
    if bstats is not None:
        out["frames_encoded_total"] = sum(s["frames_encoded"] for s in bstats["streams"].values())
        out["encode_cpu_seconds_total"] = round(sum(s["encode_seconds"] for s in bstats["streams"].values()), 3)
    return out


def bench_ttcp(streams: int, resolution: int, fps: float, seconds: float, repeats: int) -> dict:
    """On and off alternate, so load from other processes on the machine hits both alike."""
    on, off = [], []
    for _ in range(repeats):
        on.append(_engine_run(streams, resolution, fps, seconds, True))
        off.append(_engine_run(streams, resolution, fps, seconds, False))
    return {
        "streams": streams,
        "resolution": resolution,
        "fps": fps,
        "seconds": seconds,
        "broadcast_on": on,
        "broadcast_off": off,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--fps", type=float, default=8.0)
    ap.add_argument("--ttcp-seconds", type=float, default=10.0)
    ap.add_argument("--ttcp-streams", type=int, default=4)
    ap.add_argument("--ttcp-resolution", type=int, default=32, help="the tiny test season's size")
    ap.add_argument("--ttcp-fps", type=float, default=2.0)
    ap.add_argument("--ttcp-repeats", type=int, default=2)
    ap.add_argument("--output-heights", default="0,480", help="encoder section: one run per broadcast height")
    ap.add_argument("--scale-filter", default="bicubic")
    ap.add_argument("--skip-ttcp", action="store_true")
    ap.add_argument("--skip-encoder", action="store_true")
    args = ap.parse_args()
    out: dict = {}
    if not args.skip_encoder:
        out["encoder"] = {
            f"output_height_{h}": bench_encoder(
                args.streams, args.resolution, args.fps, args.seconds, h, args.scale_filter
            )
            for h in (int(x) for x in args.output_heights.split(","))
        }
    if not args.skip_ttcp:
        out["ttcp"] = bench_ttcp(
            args.ttcp_streams, args.ttcp_resolution, args.ttcp_fps, args.ttcp_seconds, args.ttcp_repeats
        )
    out["threads_note"] = "encoder CPU is per-thread CPU time (libx264 runs single-threaded per stream)"
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
