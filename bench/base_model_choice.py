"""Pixel vs space-to-depth "latent" for the embedded generator: speed and quality at an equal training budget.

Prints JSON and writes bench/base_model_choice.json. For each variant:
* `samples_per_s`: generated 64x64 frames per second at batch 8, 1 step (untrained weights; the cost does not
  depend on them), best of `--rounds` interleaved rounds, so that a busy shared CPU hurts all variants alike;
* `accuracy_1_step` / `accuracy_2_steps`: media.base_eval's nearest-centroid topic accuracy after the same
  short training (`--steps` optimiser steps of batch `--batch` at `--resolution` with media.train_base,
  evaluated at that resolution), chance 1/8;
* `train_seconds`: that training's wall time (noisy on a shared machine).

Run: .venv/bin/python bench/base_model_choice.py [--steps 150 --batch 8 --resolution 32 --rounds 5 --threads 1]
(1 torch thread by default: on the shared 2-core machines 2 threads spin-wait and run many times slower.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from media.base_eval import source_classifier, topic_accuracy  # noqa: E402
from media.embedding import get_text_embedder  # noqa: E402
from media.generator import GeneratorConfig, TinyDiffusionGenerator  # noqa: E402
from media.train_base import train  # noqa: E402
from media.trends import DEFAULT_TOPICS  # noqa: E402

VARIANTS = {
    "pixel_32_64_64": {"block_out_channels": [32, 64, 64], "space_to_depth": 1},
    "s2d2_32_64_64": {"block_out_channels": [32, 64, 64], "space_to_depth": 2},
    "s2d2_16_32_32": {"block_out_channels": [16, 32, 32], "space_to_depth": 2},
}


def speed(rounds: int, batch: int = 8, resolution: int = 64) -> dict[str, float]:
    gens = {k: TinyDiffusionGenerator(GeneratorConfig(checkpoint=None, **v)) for k, v in VARIANTS.items()}
    emb = np.random.default_rng(0).standard_normal((batch, 384)).astype(np.float32)
    best = {k: float("inf") for k in gens}
    for _ in range(rounds + 1):  # the first round warms up
        for k, g in gens.items():
            noise = [torch.Generator().manual_seed(i) for i in range(batch)]
            t0 = time.perf_counter()
            g.generate(emb, resolution, 1, noise)
            best[k] = min(best[k], time.perf_counter() - t0)
    return {k: round(batch / v, 1) for k, v in best.items()}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    embed = get_text_embedder().embed
    topics = list(DEFAULT_TOPICS)
    clf = source_classifier(topics, a.resolution)
    result = {
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "budget": {"steps": a.steps, "batch": a.batch, "resolution": a.resolution, "lr": 2e-3, "warmup": 10},
        "variants": {},
    }
    fps = speed(a.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch in VARIANTS.items():
            out = Path(tmp, f"{name}.safetensors")
            argv = [
                "--steps",
                str(a.steps),
                "--batch",
                str(a.batch),
                "--resolution",
                str(a.resolution),
                "--quiet",
                "--threads",
                str(a.threads),
                "--warmup",
                "10",
                "--lr",
                "2e-3",
                "--channels",
                ",".join(map(str, arch["block_out_channels"])),
                "--space-to-depth",
                str(arch["space_to_depth"]),
                "--ema",
                "0.95",
                "--out",
                str(out),
            ]
            note = train(argv, embed=embed)
            gen = TinyDiffusionGenerator(GeneratorConfig(checkpoint=str(out), **arch))
            result["variants"][name] = {
                **arch,
                "parameters": note["parameters"],
                "samples_per_s": fps[name],
                "train_seconds": note["wall_seconds"],
                "final_loss": note["final_loss"],
                "accuracy_1_step": round(topic_accuracy(gen, embed, topics, 1, 3, a.resolution, clf), 3),
                "accuracy_2_steps": round(topic_accuracy(gen, embed, topics, 2, 3, a.resolution, clf), 3),
            }
            print(json.dumps({name: result["variants"][name]}), flush=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
