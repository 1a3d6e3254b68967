"""Audience benchmark: wall time of one round (10 ticks, 8 streams) and peak memory per population size.

Run `python bench/audience.py` (prints JSON); `bench/season.py` imports `bench_audience`. Timing and memory are
measured in separate passes so tracemalloc's bookkeeping does not inflate the times. The first round is
reported apart: every online viewer starts browsing, so it is the heaviest choice step of a season.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.audience import Audience, AudienceConfig, StreamView  # noqa: E402

DIM = 384


def _setup(size: int, streams: int, ticks: int, seed: int) -> tuple[Audience, list[StreamView]]:
    """A population over synthetic unit topic vectors and `streams` realistic views (one stalls, one starts late)."""
    cfg = AudienceConfig(size=size)
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((len(cfg.topics), DIM)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    views = []
    for j in range(streams):
        emb = topics[j % len(topics)] + 0.5 * topics[(j + 1) % len(topics)]
        views.append(
            StreamView(
                stream_id=f"s{j}",
                content_embedding=(emb / np.linalg.norm(emb)).astype(np.float32),
                detail=0.3 + 0.4 * j / max(streams - 1, 1),
                smoothness=0.4 + 0.5 * j / max(streams - 1, 1),
                speckle=0.2,
                motion=0.1 if j == 3 else 0.5,
                stability=0.7,
                stall_seconds_per_tick=[0.3 if j == 1 else 0.0] * ticks,
                startup_delay=6.0 if j == 2 else 0.5,
                novelty=0.2,
            )
        )
    return Audience(cfg, topics, np.random.default_rng(seed + 1)), views


def bench_audience(
    sizes: list[int] | tuple[int, ...] = (10_000, 100_000, 1_000_000),
    ticks: int = 10,
    streams: int = 8,
    rounds: int = 4,
    seed: int = 0,
) -> dict:
    """Seconds per round (first and later rounds) and peak traced memory for each population size."""
    results = []
    trend = None
    for size in sizes:
        t0 = time.perf_counter()
        aud, views = _setup(size, streams, ticks, seed)
        init_s = time.perf_counter() - t0
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            last = aud.step_round(views, ticks, trend)
            times.append(time.perf_counter() - t0)
        state_mb = sum(v.nbytes for v in aud.state_dict().values() if isinstance(v, np.ndarray)) / 2**20
        del aud

        tracemalloc.start()
        aud, views = _setup(size, streams, ticks, seed)
        aud.step_round(views, ticks, trend)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del aud

        later = times[1:] or times
        results.append(
            {
                "viewers": size,
                "init_s": round(init_s, 4),
                "round_s_first": round(times[0], 4),
                "round_s_mean_later": round(float(np.mean(later)), 4),
                "round_s_max_later": round(float(np.max(later)), 4),
                "state_mb": round(state_mb, 1),
                "peak_traced_mb": round(peak / 2**20, 1),
                "online_mean_last_round": round(last.online_mean, 1),
                "top_stream_share_last_round": round(
                    max(e["mean"] for e in last.ern.values()) / max(sum(e["mean"] for e in last.ern.values()), 1),
                    3,
                ),
            }
        )
    return {
        "bench": "audience",
        "ticks": ticks,
        "streams": streams,
        "rounds": rounds,
        "results": results,
        # ru_maxrss is KiB on Linux: the whole process, i.e. the largest size plus the interpreter and numpy.
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": _cpus()},
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def main(argv: list[str] | None = None) -> None:
    """e.g. `bench/audience.py --sizes 1000000 --streams 16 --ticks 6 --rounds 3` (the issue's 1M x 16 target)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated population sizes")
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args(argv)
    sizes = [int(x) for x in a.sizes.split(",")]
    print(json.dumps(bench_audience(sizes, ticks=a.ticks, streams=a.streams, rounds=a.rounds), indent=2))


if __name__ == "__main__":
    main()
