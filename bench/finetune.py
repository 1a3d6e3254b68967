"""Runtime finetuning speed: seconds per FinetuneJob step vs one generation forward; prints ONE JSON object.

Why the ratio: the engine charges a finetune step on its deterministic timeline as
`FinetuneCost.step_seconds(cost_model, batch, resolution)` = factor x the CostModel's seconds for a one-step
generation batch of the same size. The factor (forward + backward + optimiser over a forward) depends on the
architecture far less than the absolute seconds do, so a CostModel calibrated on a GPU carries over.

Run:  .venv/bin/python bench/finetune.py [--threads 2] [--repeats 5] [--tiny]
(`--tiny` = the tests' block_out_channels [16, 32, 32]; default = the default GeneratorConfig.)

      .venv/bin/python bench/finetune.py --sd [--sd-resolution 64] [--repeats 3]
(`--sd`: the diffusers backend's LoRA job (media.finetune_sd) on random weights in the SD 2.1 / sd-turbo UNet
shape (865M parameters, bench/media.py's SD21_UNET) with a random TAESD; float16 on CUDA when there is one,
else float32 on the CPU. Also reports the size of the LoRA tensors a checkpoint holds for that UNet.)
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


def bench_sd(resolution: int, batches: tuple[int, ...], repeats: int) -> dict:
    """One-step generation batch vs one SDFinetuneJob step (LoRA, defaults) on an SD-2.1-shaped random UNet."""
    from bench.media import SD21_UNET, build_random_sd
    from media.finetune import new_job

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    gen = build_random_sd(SD21_UNET, {}, device, "float16" if device == "cuda" else "float32")
    cond = np.random.default_rng(0).standard_normal((77, 1024)).astype(np.float32)
    frames = np.random.default_rng(0).integers(0, 256, (16, resolution, resolution, 3), dtype=np.uint8)
    rows, lora_bytes = [], None
    for batch in batches:
        emb = np.repeat(cond[None], batch, 0)
        gens = [torch.Generator().manual_seed(i) for i in range(batch)]

        def forward():
            gen.generate(emb, resolution, 1, gens)
            sync()

        forward()  # warm-up
        fwd_best, fwd_med = _best_and_median(forward, repeats)
        job = new_job(gen, frames, cond, steps=repeats + 1, batch_size=batch)

        def step():
            job.step()
            sync()

        step()  # warm-up: optimiser state, first backward
        best, med = _best_and_median(step, repeats)
        lora_bytes = sum(t.numel() * t.element_size() for t in job.trained_tensors().values())
        row = {
            "resolution": resolution,
            "batch": batch,
            "forward_best_s": round(fwd_best, 4),
            "forward_median_s": round(fwd_med, 4),
            "lora": {
                "step_best_s": round(best, 4),
                "step_median_s": round(med, 4),
                "factor_best": round(best / fwd_best, 2),
                "trainable_parameters": job.trainable_parameters,
                "loss": round(job.losses[-1], 4),
            },
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        del job
    return {
        "backend": "diffusers",
        "unet": "SD21_UNET (random weights)",
        "unet_parameters": sum(p.numel() for p in gen.unet.parameters()),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "dtype": str(gen.dtype),
        "lora_checkpoint_tensor_bytes": lora_bytes,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--sd", action="store_true", help="the diffusers backend's LoRA job on an SD-2.1-shaped UNet")
    p.add_argument("--sd-resolution", type=int, default=64)
    p.add_argument("--sd-batches", type=int, nargs="+", default=[1, 4])
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.sd:
        out = bench_sd(a.sd_resolution, tuple(a.sd_batches), a.repeats)
        out.update(threads=a.threads, load_average=os.getloadavg(), torch=torch.__version__)
        print(json.dumps(out, indent=1))
        return
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
