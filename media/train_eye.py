"""Train the audience's eye (media.eye's image tower) against the locked MiniLM text tower: `python -m media.train_eye`.

Why this recipe (LiT, Zhai et al. 2022, with the TEXT side locked):
* text: every caption of every audience topic (media.sources.captions' phrases in stream-style wrappers, a few
  templates such as "a live stream of {topic}", the bare label) is embedded ONCE by the frozen MiniLM, so the
  eye lands in the space the audience's interests, prompts and trends already use; nothing on that side trains;
* images, all rendered here: built-in scenes at random times, resolutions and TRAINING seeds (held-out seeds are
  for bench/eye.py), frames of the packaged base generator at 1 and 4 steps from caption prompts (what streams
  show), "null" frames (flat colours, noise) captioned as a blank screen so a dead stream matches no topic, and
  degraded copies (noise, blur, down-up scaling, brightness, JPEG-like blocks) that keep their caption;
  generated frames are labelled by their prompt's topic, so the eye also learns what this generator draws for
  a topic it never saw (the niche ones): --gen-per-topic 0 trains on the scenes' look alone;
* loss: image->text InfoNCE over the whole caption bank with a learnable temperature; the target is spread
  evenly over the image's topic's captions (many captions share one scene, so in-batch one-hot targets
  would push an ocean frame away from "surf cam: waves breaking");
* AdamW, warm-up then cosine decay; a state file (weights, optimiser, step, RNGs, the generated-frame pool)
  written atomically every --save-every steps, so `--resume` continues a stopped run (nanoGPT's shape).

Output: fp16 safetensors (architecture in its metadata) and a JSON note next to it (command, seed, steps,
wall time, final loss, held-out accuracy); `python -m bench.eye --record` adds the full figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from media.eye import DEFAULT_CHANNELS, DIM, PACKAGED_EYE, ImageTower, frames_to_tensor
from media.sources.captions import caption_variants
from media.sources.synthetic import SyntheticScene
from media.train_data import SCENE_SECONDS  # the base trainer's scene clock, one definition
from media.trends import DEFAULT_TOPICS as TREND_TOPICS

# arena.audience.DEFAULT_TOPICS (media may not import arena; a test keeps the two equal)
AUDIENCE_TOPICS = [*TREND_TOPICS, "snowy mountains", "coral reef fish"]
# descriptive phrases for the audience's niche topics, which have no scene kind (media.sources.captions)
EXTRA_PHRASES = {
    "snowy mountains": ("snow-capped mountain peaks", "a winter mountain range", "alpine snow slopes"),
    "coral reef fish": ("tropical fish on a coral reef", "an underwater reef", "colourful reef fish swimming"),
}
TEMPLATES = ("a live stream of {}", "{} at night, cinematic", "a video of {}", "beautiful {}", "{} footage")
NULL_CAPTIONS = ("a blank grey screen", "a black screen", "no signal", "static noise on a screen", "an empty frame")
HELDOUT_SEED = 1000  # scene seeds >= this are never trained on


class TrainError(ValueError):
    """Bad arguments or an unusable state file."""


def topic_captions(topic: str) -> list[str]:
    """Every training caption of a topic: its scene kind's variants, the templates, its extra phrases."""
    extra = [w.format(p) for p in EXTRA_PHRASES.get(topic, ()) for w in ("{}", "{} livestream", "LIVE: {}")]
    return list(dict.fromkeys(caption_variants(topic) + [t.format(topic) for t in TEMPLATES] + extra))


class CaptionBank:
    """All captions of all topics plus the null class, embedded once; class k's captions are rows lo[k]:hi[k]."""

    def __init__(self, topics: list[str], embed) -> None:
        groups = [topic_captions(t) for t in topics] + [list(NULL_CAPTIONS)]
        self.topics = topics
        self.texts = [c for g in groups for c in g]
        self.bounds = np.cumsum([0] + [len(g) for g in groups])
        self.emb = torch.from_numpy(np.asarray(embed(self.texts), np.float32))
        if self.emb.shape != (len(self.texts), DIM):
            raise TrainError(f"the text embedder returned {tuple(self.emb.shape)} embeddings")
        self.targets = torch.zeros(len(groups), len(self.texts))
        for k in range(len(groups)):
            self.targets[k, self.bounds[k] : self.bounds[k + 1]] = 1.0 / (self.bounds[k + 1] - self.bounds[k])

    def caption(self, k: int, rng: np.random.Generator) -> str:
        return self.texts[int(rng.integers(self.bounds[k], self.bounds[k + 1]))]


def generated_pool(bank: CaptionBank, per_topic: int, steps: tuple[int, ...], seed: int) -> tuple[np.ndarray, ...]:
    """Frames the packaged base generator draws from random caption prompts: uint8 (N, 64, 64, 3), labels."""
    from media.generator import GeneratorConfig, TinyDiffusionGenerator

    gen = TinyDiffusionGenerator(GeneratorConfig())
    rng = np.random.default_rng(seed + 7)
    labels = np.repeat(np.arange(len(bank.topics)), per_topic)
    texts = [bank.caption(int(k), rng) for k in labels]
    cond = bank.emb[[bank.texts.index(t) for t in texts]].numpy()
    frames = []
    for s in steps:  # noise seeds from 50_000 on: bench/eye.py's generated frames use 10_000 + i
        noise = [torch.Generator().manual_seed(50_000 + 1000 * s + seed * 100_000 + i) for i in range(len(texts))]
        frames += [gen.generate(cond[i : i + 16], 64, s, noise[i : i + 16]) for i in range(0, len(texts), 16)]
    return np.concatenate(frames), np.tile(labels, len(steps))


def null_frames(rng: np.random.Generator, n: int) -> torch.Tensor:
    """Frames of no topic: flat colours (slightly noisy), plain noise, or a flat colour with a soft gradient."""
    base = torch.from_numpy(rng.uniform(0, 1, (n, 3, 1, 1)).astype(np.float32)).expand(n, 3, 64, 64).clone()
    noise = torch.from_numpy(rng.uniform(0, 1, (n, 3, 64, 64)).astype(np.float32))
    ramp = torch.linspace(-0.15, 0.15, 64).view(1, 1, 64, 1)
    kind = torch.from_numpy(rng.integers(0, 3, n)).view(n, 1, 1, 1)
    x = torch.where(kind == 0, base + 0.02 * (noise - 0.5), torch.where(kind == 1, noise, base + ramp))
    return x.clamp(0, 1)


def degrade(x: torch.Tensor, rng: np.random.Generator, p: float = 0.35) -> torch.Tensor:
    """Each frame gets each degradation with probability p; the caption stays (a blurry ocean is an ocean)."""
    f = nn.functional
    out = []
    for img in x.split(1):
        if rng.uniform() < p:  # down-up scaling
            s = int(rng.choice([8, 12, 16, 24, 32]))
            img = f.interpolate(f.interpolate(img, size=(s, s), mode="area"), size=(64, 64), mode="bilinear")
        if rng.uniform() < p:  # blur
            img = f.avg_pool2d(img, 3, 1, 1, count_include_pad=False)
        if rng.uniform() < p:  # darker / brighter
            img = img * float(rng.uniform(0.35, 1.6))
        if rng.uniform() < p:  # JPEG-like: 8x8 blocks pulled to their mean, colours quantised
            block = f.interpolate(f.avg_pool2d(img, 8), scale_factor=8, mode="nearest")
            levels = float(2 ** rng.integers(2, 5))
            img = torch.round((0.5 * img + 0.5 * block) * levels) / levels
        if rng.uniform() < p:  # sensor noise
            img = img + float(rng.uniform(0.02, 0.15)) * torch.randn(img.shape, generator=_torch_gen(rng))
        out.append(img.clamp(0, 1))
    return torch.cat(out)


def _torch_gen(rng: np.random.Generator) -> torch.Generator:
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


class EyeData:
    """Reproducible training batches (pixels in [0, 1] at 64x64, class indices) from an rng."""

    def __init__(self, bank: CaptionBank, scene_seeds: int, pool: tuple[np.ndarray, np.ndarray]) -> None:
        self.bank, self.scene_seeds, self.pool = bank, scene_seeds, pool
        self._scenes: dict[tuple[int, int], SyntheticScene] = {}

    def scene(self, k: int, seed: int) -> SyntheticScene:
        if (k, seed) not in self._scenes:
            self._scenes[(k, seed)] = SyntheticScene(self.bank.topics[k], seed)
        return self._scenes[(k, seed)]

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        n_topics = len(self.bank.topics)
        n_null = max(1, size // 12)
        n_gen = (size - n_null) * 2 // 5 if len(self.pool[0]) else 0
        n_scene = size - n_null - n_gen
        res = int(rng.choice([32, 48, 64, 64, 96]))
        k_scene = rng.integers(n_topics, size=n_scene)
        seeds = rng.integers(self.scene_seeds, size=n_scene)
        when = rng.uniform(0, SCENE_SECONDS, size=n_scene)
        frames = [self.scene(int(k), int(s)).frame(float(t), res) for k, s, t in zip(k_scene, seeds, when)]
        parts = [frames_to_tensor(np.stack(frames))]
        pick = rng.integers(len(self.pool[0]), size=n_gen) if n_gen else np.zeros(0, np.int64)
        if n_gen:
            parts.append(frames_to_tensor(self.pool[0][pick]))
        parts.append(null_frames(rng, n_null))
        x = torch.cat(parts)
        flip = torch.from_numpy(rng.uniform(size=size) < 0.5)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        half = rng.uniform(size=size) < 0.5
        if half.any():
            x[torch.from_numpy(half)] = degrade(x[torch.from_numpy(half)], rng)
        labels = np.concatenate([k_scene, self.pool[1][pick], np.full(n_null, n_topics)])
        return x, torch.from_numpy(labels.astype(np.int64))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m media.train_eye", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2500, help="total optimiser steps (the cosine schedule's length)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=PACKAGED_EYE, help="final fp16 safetensors (+ .json note)")
    p.add_argument("--state", type=Path, default=None, help="resumable state file (default: <out>.state.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the state file")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this wall time")
    p.add_argument("--channels", default=",".join(map(str, DEFAULT_CHANNELS)), help="conv block widths")
    p.add_argument("--scene-seeds", type=int, default=32, help="training scene layouts per topic (< 1000)")
    p.add_argument("--gen-per-topic", type=int, default=24, help="generated frames per topic per step count")
    p.add_argument("--gen-steps", default="1,4", help="sampling step counts of the generated frames")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    a.argv = list(argv if argv is not None else sys.argv[1:])
    try:
        a.channels_list = [int(c) for c in str(a.channels).split(",")]
        a.gen_steps_list = tuple(int(s) for s in str(a.gen_steps).split(",") if s.strip())
    except ValueError as exc:
        raise TrainError(f"--channels/--gen-steps must be comma lists of integers: {exc}") from exc
    if a.steps < 1 or a.batch < 16 or a.save_every < 1 or a.lr <= 0 or not 1 <= a.scene_seeds < HELDOUT_SEED:
        raise TrainError("need --steps, --save-every >= 1, --batch >= 16, --lr > 0 and 1 <= --scene-seeds < 1000")
    if a.gen_per_topic < 0 or any(s < 1 for s in a.gen_steps_list):
        raise TrainError("need --gen-per-topic >= 0 and --gen-steps >= 1")
    a.state = a.state or a.out.with_suffix(".state.pt")
    return a


def _save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves a half-written state


def heldout_accuracy(tower: ImageTower, bank: CaptionBank, seeds: int = 4, frames: int = 8) -> float:
    """Share of held-out scene frames (seeds 1000..) nearest to their own topic's bare label."""
    labels = bank.emb[[bank.texts.index(t) for t in bank.topics]]
    x, y = [], []
    for k, topic in enumerate(bank.topics):
        for s in range(seeds):
            x.append(SyntheticScene(topic, HELDOUT_SEED + s).frames(5.0, frames, 0.37, 64))
            y += [k] * frames
    tower.eval()
    with torch.no_grad():
        z = nn.functional.normalize(tower(frames_to_tensor(np.concatenate(x))), dim=1)
    return float((z @ labels.T).argmax(1).eq(torch.tensor(y)).float().mean())


def train(argv: list[str] | None = None, embed=None) -> dict:
    """Run (or resume) a training; returns the JSON note written next to the weights."""
    a = parse_args(argv)
    threads_before = torch.get_num_threads()
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        return _train(a, embed)
    finally:
        torch.set_num_threads(threads_before)  # train() may run inside another process (tests, bench)


def _train(a: argparse.Namespace, embed) -> dict:
    if embed is None:
        from media.embedding import get_text_embedder

        embed = get_text_embedder().embed
    bank = CaptionBank(AUDIENCE_TOPICS, embed)
    torch.manual_seed(a.seed)
    tower = ImageTower(tuple(a.channels_list), DIM)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    opt = torch.optim.AdamW([*tower.parameters(), logit_scale], lr=a.lr, weight_decay=0.05)
    rng = np.random.default_rng(a.seed)
    step, wall, losses, pool = _resume(a, tower, logit_scale, opt, rng) if a.resume else (0, 0.0, [], None)
    if pool is None:
        empty = (np.zeros((0, 64, 64, 3), np.uint8), np.zeros(0, np.int64))
        pool = generated_pool(bank, a.gen_per_topic, a.gen_steps_list, a.seed) if a.gen_per_topic else empty
    data = EyeData(bank, a.scene_seeds, pool)

    def state() -> dict:
        return {
            "model": tower.state_dict(),
            "logit_scale": float(logit_scale.detach()),
            "optimizer": opt.state_dict(),
            **{"step": step, "wall_seconds": wall, "losses": losses, "pool": pool, "channels": a.channels_list},
            **{"numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "args": a.argv},
        }

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("eye"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"))
    started, budget = time.monotonic(), (a.max_minutes * 60 if a.max_minutes else math.inf)
    with Progress(*cols, TimeRemainingColumn(), disable=a.quiet) as bar:
        task = bar.add_task("train", total=a.steps, completed=step, loss="-")
        tower.train()
        while step < a.steps and time.monotonic() - started < budget:
            x, y = data.batch(rng, a.batch)
            z = nn.functional.normalize(tower(x), dim=1)
            logits = logit_scale.clamp(max=math.log(100)).exp() * z @ bank.emb.T
            loss = -(bank.targets[y] * logits.log_softmax(1)).sum(1).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at step {step}")
            warm = min(1.0, (step + 1) / max(1, a.warmup))
            for g in opt.param_groups:
                g["lr"] = a.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / a.steps)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(loss.item())
            bar.update(task, completed=step, loss=f"{np.mean(losses[-50:]):.4f}")
            if step % a.save_every == 0:
                _save(a.state, {**state(), "wall_seconds": wall + time.monotonic() - started})
    wall += time.monotonic() - started
    _save(a.state, state())
    return _export(a, tower, float(logit_scale.detach()), bank, step, wall, losses)


def _resume(a: argparse.Namespace, tower: ImageTower, logit_scale: nn.Parameter, opt, rng) -> tuple:
    """Load the state file into the model, optimiser and generators; returns (step, wall, losses, pool)."""
    if not a.state.is_file():
        raise TrainError(f"--resume: no state file at {a.state}")
    st = torch.load(a.state, map_location="cpu", weights_only=False)
    if st.get("channels") != a.channels_list:
        raise TrainError(f"--resume: {a.state} was trained with channels {st.get('channels')}")
    tower.load_state_dict(st["model"])
    logit_scale.data.fill_(st["logit_scale"])
    opt.load_state_dict(st["optimizer"])
    rng.bit_generator.state = st["numpy_rng"]
    torch.set_rng_state(st["torch_rng"])
    return st["step"], st["wall_seconds"], st["losses"], st["pool"]


def _export(a, tower: ImageTower, logit_scale: float, bank: CaptionBank, step: int, wall: float, losses) -> dict:
    from safetensors.torch import save_file

    arch = {"channels": a.channels_list, "dim": DIM, "input_size": 64}
    weights = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tower.state_dict().items()}
    weights["logit_scale"] = torch.tensor(logit_scale, dtype=torch.float32)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    save_file(weights, str(tmp), metadata={"eye_config": json.dumps(arch)})
    os.replace(tmp, a.out)
    note = {
        "command": "python -m media.train_eye " + shlex.join(a.argv),
        **{"seed": a.seed, "steps": step, "batch": a.batch, "lr": a.lr, "wall_seconds": round(wall, 1)},
        "final_loss": round(float(np.mean(losses[-100:])), 4) if losses else None,
        "logit_scale": round(math.exp(min(logit_scale, math.log(100))), 2),
        "heldout_accuracy": round(heldout_accuracy(tower, bank), 4),
        "parameters": sum(p.numel() for p in tower.parameters()),
        **{"eye_config": arch, "topics": bank.topics, "captions": len(bank.texts), "torch": torch.__version__},
        **{"scene_seeds": a.scene_seeds, "heldout_seeds_from": HELDOUT_SEED, "dtype": "float16"},
        "generated": {"per_topic": a.gen_per_topic, "steps": list(a.gen_steps_list)},
        "bytes": a.out.stat().st_size,
    }
    a.out.with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n")
    return note


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        note = train(argv)
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: note[k] for k in ("steps", "wall_seconds", "final_loss", "heldout_accuracy")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
