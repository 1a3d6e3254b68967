"""Scaling-out benchmark (issue 16): prints ONE JSON object; never run by `make test`.

What it measures, on this machine, at the default season's sizes (6 streams, 128 px since issue 18 and 64 px
before it, 1 step, 4 fps, 6 s rounds, model timing, the embedded generator):
  backends  seconds per round and aggregate generated frames/s of the engine as the season loop drives it each
            round (`advance` + `state_dict`, which the loop takes for its resume state), for
              local          media.engine.StreamEngine in this process: one device of --threads CPU threads
              ray_1_actor    media.ray_engine.RayEngine, one actor, one device of --threads threads (the same
                             device as local: the difference is Ray's cost)
              ray_2_actors   two actors, two such devices (the streams split 3 + 3; on this 2-core machine with
                             --threads 1 they use both cores)
            in alternating blocks (local, ray 1, ray 2, local, ...), medians over blocks, so load from other
            work on the machine hits every backend alike. Every backend generates the same frames per round
            (the cost model fixes them in model timing); only the wall time differs.
  ray_overhead  (ray_1_actor - local) seconds per round, and as a fraction of local's: target <= 10%. Also
            Ray's fixed cost per round measured alone (an actor with no streams: the round's calls, nothing
            generated) and the bytes a round moves between driver and actors (the reports and the engine state
            the loop takes each round, pickled).
  projection    aggregate frames/s and streams for N GPUs, from a per-GPU rate (see its "model").

There is no GPU here: the per-GPU rate is --gpu-fps, by default bench/media.py's GPU target (3 x
StreamDiffusion's img2img fps = 281.7 frames/s at batch 16 on an H100), which is a target, not a measurement;
pass the `gpu` section's measured best fps from a GPU machine to project from a measurement.

Why --threads 1 by default: torch's two intra-op threads on a 2-core machine that is also running other work
spin-wait each other, and one 6-stream round then took 15 s instead of 1.8 s (measured while writing this);
one thread per device is the honest unit here, and two devices use the two cores.

Run:  nice -n 10 .venv/bin/python bench/scale.py [--blocks 3] [--rounds 3] [--threads 1] [--gpu-fps F]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.config import load_season_config  # noqa: E402
from arena.engines import build_engine  # noqa: E402
from media.backends import build_generator  # noqa: E402
from media.embedding import get_text_embedder  # noqa: E402
from media.settings import StreamSettings  # noqa: E402

GPU_TARGET_FPS = 3 * 93.9  # bench/media.py's GPU target (docs/facts.md); not measured on this machine
OVERHEAD_TARGET = 0.10
TOPICS = ("ocean waves", "city night", "forest", "desert", "snow mountain", "neon arcade")


def engines(threads: int):
    """(name, engine) for each backend, built through the season's own arena.engines.build_engine."""
    base = load_season_config(None)
    # the default architecture at random init: the speed does not depend on the weights, and the bench does
    # not break while the packaged checkpoint and the code's defaults are being changed together
    model = base.generator.model.model_copy(update={"checkpoint": None})
    base = base.model_copy(update={"generator": base.generator.model_copy(update={"model": model})})
    embedder = get_text_embedder()
    generator = build_generator(base.generator.model, embedder, device="cpu")
    made = []
    for name, engine in (
        ("local", {"backend": "local"}),
        ("ray_1_actor", {"backend": "ray", "ray": {"actors": 1, "num_cpus_per_actor": threads}}),
        ("ray_2_actors", {"backend": "ray", "ray": {"actors": 2, "num_cpus_per_actor": threads}}),
    ):
        cfg = made_config(base, engine)
        made.append((name, build_engine(cfg, generator, embedder, cfg.engine.cost_model, "model")))
    return base, made


def made_config(base, engine: dict):
    data = base.model_dump()
    return type(base).model_validate({**data, "engine": {**data["engine"], **engine}})


def add_streams(engine, defaults: StreamSettings, n: int) -> None:
    for i in range(n):
        s = defaults.model_copy(update={"prompt": f"{TOPICS[i % len(TOPICS)]}, stream {i}", "seed": i})
        engine.add_stream(f"s{i + 1:02d}", lambda s=s: s, seed=i)


def one_block(engine, rounds: int, seconds: float) -> tuple[float, int]:
    frames = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        reports = engine.advance(seconds)
        engine.state_dict()  # the loop takes it every round for the resume state
        frames += sum(r.frames_generated for r in reports.values())
    return (time.perf_counter() - t0) / rounds, frames // rounds


def projection(gpu_fps: float, source: str, overhead_s: float, round_seconds: float, fps: float) -> dict:
    rows = []
    for n in (1, 2, 4, 8, 16, 32):
        # a round of T seconds on each GPU: S streams need S*fps*T frames at gpu_fps, plus Ray's fixed cost c
        streams = int(gpu_fps * max(round_seconds - overhead_s, 0.0) / (fps * round_seconds)) * n
        rows.append({"gpus": n, "aggregate_frames_per_s": round(n * gpu_fps, 1), "streams_at_default_fps": streams})
    return {
        "per_gpu_frames_per_s": round(gpu_fps, 1),
        "per_gpu_source": source,
        "model": "each actor owns one GPU and batches its own streams as the local engine does, so the aggregate "
        "is N x the per-GPU rate; in a round of T s an actor also pays Ray's fixed per-round cost c (measured "
        "here as ray_overhead.seconds_per_round, an upper bound: on a GPU the same transfers are not slower), so "
        "one GPU keeps S <= rate x (T - c) / (fps x T) streams content-positive. Not modelled: the driver's "
        "own per-round work (audience, eye, scoring, database), which does not shrink with more GPUs.",
        "round_seconds": round_seconds,
        "stream_fps": fps,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per block")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of one device (default 1)")
    ap.add_argument("--gpu-fps", type=float, default=None, help="measured per-GPU frames/s (bench/media.py gpu)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import ray

    # logical CPUs for the actors of every Ray backend at once (+1: the empty one); the machine has what it has
    ray.init(num_cpus=3 * args.threads + 1, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        base, made = engines(args.threads)
        d = base.generator.defaults
        for _, e in made:
            add_streams(e, d, base.streamers)
            e.advance(base.round_seconds)  # warm-up round (first batches, caches, actor imports)
        times: dict[str, list[float]] = {name: [] for name, _ in made}
        frames: dict[str, int] = {}
        for _ in range(args.blocks):
            for name, e in made:
                s, f = one_block(e, args.rounds, base.round_seconds)
                times[name].append(s)
                frames[name] = f
        empty = build_engine(
            made_config(base, {"backend": "ray", "ray": {"actors": 1, "num_cpus_per_actor": 1}}),
            None,
            None,
            base.engine.cost_model,
            "model",
        )
        empty.advance(base.round_seconds)
        fixed = statistics.median(one_block(empty, 1, base.round_seconds)[0] for _ in range(10))
        local_engine = made[0][1]
        moved = len(pickle.dumps(local_engine.advance(base.round_seconds))) + len(
            pickle.dumps(local_engine.state_dict())
        )
        for _, e in [*made, ("empty", empty)]:
            e.close()
    finally:
        ray.shutdown()
    backends = {}
    for name in times:
        s = statistics.median(times[name])
        backends[name] = {
            "seconds_per_round": round(s, 4),
            "blocks": [round(x, 4) for x in times[name]],
            "frames_per_round": frames[name],
            "frames_per_s": round(frames[name] / s, 1),
        }
    local, ray1 = backends["local"]["seconds_per_round"], backends["ray_1_actor"]["seconds_per_round"]
    overhead = ray1 - local
    gpu_fps = args.gpu_fps or GPU_TARGET_FPS
    source = "--gpu-fps (measured)" if args.gpu_fps else "bench/media.py GPU target 3 x 93.9 (NOT measured: no GPU)"
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "gpu": "none: no GPU on this machine (projection from --gpu-fps or the target)",
        },
        "sizes": {
            "streams": base.streamers,
            "resolution": d.resolution,
            "steps": d.steps,
            "fps": d.fps,
            "round_seconds": base.round_seconds,
            "timing": "model",
            "weights": "the default generator architecture at random init (same arithmetic as trained weights)",
            "threads": args.threads,
            "blocks": args.blocks,
            "rounds_per_block": args.rounds,
        },
        "backends": backends,
        "ray_overhead": {
            "seconds_per_round": round(overhead, 4),
            "fraction_of_local": round(overhead / local, 3),
            "target": OVERHEAD_TARGET,
            "met": overhead / local <= OVERHEAD_TARGET,
            "fixed_seconds_per_round_no_streams": round(fixed, 4),
            "bytes_per_round": moved,
        },
        "speedup_2_actors_vs_local": round(local / backends["ray_2_actors"]["seconds_per_round"], 2),
        "note": "every backend generates the same frames per round; frames/s = those frames / wall seconds",
        "projection": projection(gpu_fps, source, max(overhead, 0.0), base.round_seconds, d.fps),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
