"""Which CPU path runs the embedded generator fastest (issue 18, part 3): prints one JSON object.

Each variant generates the same batch (6 streams, 128 px by default, 1 step, the packaged base) and is compared
with plain fp32 eager PyTorch: frames/s (best and median of interleaved repeats, so load from other work hits
every variant alike) and the largest per-pixel difference of the uint8 frames (the tolerance a variant must
keep to become the default: media.generator's CPU_PATH_TOLERANCE).

  eager          fp32, NCHW (the reference)
  onnx           the UNet exported in memory to ONNX Runtime (media.onnx_unet; the default cpu_path)
  channels_last  fp32, the UNet's input in channels_last memory format (GeneratorConfig.cpu_path)
  bf16           torch.autocast(cpu, bfloat16) around the UNet (GeneratorConfig.cpu_path)
  compile        torch.compile (inductor, C++ codegen on this CPU): compile time reported separately
  threads        the eager path at 1 and 2 torch threads

Usage: .venv/bin/python bench/generator_cpu.py [--resolution 128] [--batch 6] [--repeats 5] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.embedding import get_text_embedder  # noqa: E402
from media.generator import GeneratorConfig, TinyDiffusionGenerator  # noqa: E402
from media.trends import DEFAULT_TOPICS  # noqa: E402


def _variant(
    name: str, base: TinyDiffusionGenerator
) -> tuple[TinyDiffusionGenerator, contextlib.AbstractContextManager]:
    path = name if name in ("onnx", "channels_last", "bf16") else "eager"
    gen = TinyDiffusionGenerator(base.config.model_copy(update={"cpu_path": path}))
    ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
    if name == "compile":
        gen.unet = torch.compile(gen.unet)
    return gen, ctx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="also torch.compile (minutes of compilation on 2 cores)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    base = TinyDiffusionGenerator(GeneratorConfig())
    prompts = [DEFAULT_TOPICS[i % len(DEFAULT_TOPICS)] for i in range(a.batch)]
    cond = np.asarray(get_text_embedder().embed(prompts), np.float32)

    def gens():
        return [torch.Generator().manual_seed(i) for i in range(a.batch)]

    names = ["eager", "onnx", "channels_last", "bf16"] + (["compile"] if a.compile else [])
    variants, out = {}, {"load_average_1min_at_start": round(os.getloadavg()[0], 2), "variants": {}}
    for name in names:
        t0 = time.perf_counter()
        gen, ctx = _variant(name, base)
        with ctx:
            frames = gen.generate(cond, a.resolution, a.steps, gens())  # warm-up (compiles)
        variants[name] = (gen, ctx, frames)
        out["variants"][name] = {"first_call_seconds": round(time.perf_counter() - t0, 2)}
    ref = variants["eager"][2].astype(np.int16)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(a.repeats):  # interleaved
        for name, (gen, ctx, _) in variants.items():
            with ctx:
                t0 = time.perf_counter()
                gen.generate(cond, a.resolution, a.steps, gens())
                times[name].append(time.perf_counter() - t0)
    for name, (_, _, frames) in variants.items():
        diff = np.abs(frames.astype(np.int16) - ref)
        out["variants"][name].update(
            fps_best=round(a.batch / min(times[name]), 2),
            fps_median=round(a.batch / statistics.median(times[name]), 2),
            max_pixel_diff=int(diff.max()),
            mean_pixel_diff=round(float(diff.mean()), 3),
        )
    for path in ("eager", "onnx"):
        threads = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            gen = variants[path][0]
            gen.generate(cond, a.resolution, a.steps, gens())  # onnx: a new session for the thread count
            ts = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                gen.generate(cond, a.resolution, a.steps, gens())
                ts.append(time.perf_counter() - t0)
            threads[str(n)] = round(a.batch / min(ts), 2)
        out[f"{path}_fps_best_by_threads"] = threads
    out.update(resolution=a.resolution, batch=a.batch, steps=a.steps, torch=torch.__version__)
    out["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
