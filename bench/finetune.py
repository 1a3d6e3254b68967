"""Runtime finetuning speed: seconds per FinetuneJob step vs one generation forward; prints ONE JSON object.

Why the ratio: the engine charges a finetune step on its deterministic timeline as
`FinetuneCost.step_seconds(cost_model, batch, resolution)` = factor x the CostModel's seconds for a one-step
generation batch of the same size. The factor (forward + backward + optimiser over a forward) depends on the
architecture far less than the absolute seconds do, so a CostModel calibrated on a GPU carries over.

Run:  .venv/bin/python bench/finetune.py [--threads 2] [--repeats 5] [--tiny]
(`--tiny` = the tests' block_out_channels [16, 32, 32]; default = the default GeneratorConfig.)
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

from media.finetune import FinetuneJob  # noqa: E402
from media.generator import GeneratorConfig, TinyDiffusionGenerator  # noqa: E402


def _best_and_median(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tiny", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    config = GeneratorConfig(block_out_channels=[16, 32, 32]) if a.tiny else GeneratorConfig()
    gen = TinyDiffusionGenerator(config)
    cond = np.zeros(384, np.float32)
    cond[0] = 1.0
    rows = []
    for res in (32, 64):
        frames = np.random.default_rng(0).integers(0, 256, (16, res, res, 3), dtype=np.uint8)
        for batch in (4, 8):
            emb = np.repeat(cond[None], batch, 0)
            gens = [torch.Generator().manual_seed(i) for i in range(batch)]
            gen.generate(emb, res, 1, gens)  # warm-up
            fwd_best, fwd_med = _best_and_median(lambda: gen.generate(emb, res, 1, gens), a.repeats)
            row = {
                "resolution": res,
                "batch": batch,
                "forward_best_s": round(fwd_best, 4),
                "forward_median_s": round(fwd_med, 4),
            }
            for method in ("lora", "full"):
                job = FinetuneJob(gen, frames, cond, steps=a.repeats + 1, method=method, batch_size=batch)
                job.step()  # warm-up: optimiser state, first backward
                best, med = _best_and_median(job.step, a.repeats)
                row[method] = {
                    "step_best_s": round(best, 4),
                    "step_median_s": round(med, 4),
                    "factor_best": round(best / fwd_best, 2),
                    "trainable_parameters": job.trainable_parameters,
                }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    out = {
        "config": config.model_dump(),
        "threads": a.threads,
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "rows": rows,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
