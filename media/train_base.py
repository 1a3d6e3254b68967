"""Train the embedded generator's base model on the built-in synthetic scenes: `python -m media.train_base`.

Why this recipe:
* data: every step renders fresh frames of random topics at random times and scene seeds (media.sources:
  about 1 ms a frame), so the model never sees the same frame twice and learns the topic, not one layout;
  each frame is paired with a random caption variant of its topic (media.sources.captions), embedded once
  up front with the same MiniLM the sampler uses, so free-text prompts land near the right scene;
* objective: exactly what the sampler inverts (media.generator): the same scheduler, the same
  prediction_type (v-prediction by default: target = scheduler.get_velocity(x0, noise, t)) and the same
  space (media.pixel_unshuffle's exact pixel-unshuffle);
* timesteps: half uniform over [0, 1000), half from the trailing schedules of 1-4-step sampling
  (999, 749, 666, 499, ...), because streams sample in 1-2 steps and those evaluations set the quality bar;
  the uniform half keeps img2img (any strength) working;
* AdamW with a short warm-up, an EMA of the weights (free on CPU at this size; EMA weights are what get
  saved), gradient clipping; a state file (model, EMA, optimiser, step, RNG states) is written atomically
  every --save-every steps and at the end, so `--resume` continues a stopped run where it left off.

The output is fp16 safetensors (the sampler loads it into fp32) with the architecture in its metadata,
plus a JSON note next to it: command, seed, steps, wall time, final loss, versions, architecture.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from media.generator import EMBED_DIM, GeneratorConfig, build_scheduler, build_unet, call_unet
from media.pixel_unshuffle import to_latent
from media.train_data import BatchStream, SceneData, cached_embedder

DEFAULT_OUT = Path(__file__).resolve().parent / "checkpoints" / "base.safetensors"


class TrainError(ValueError):
    """Bad arguments or an unusable state file."""


def sampler_timesteps(max_steps: int = 4, n_train: int = 1000) -> np.ndarray:
    """The distinct timesteps the trailing schedules of 1..max_steps-step text-to-image sampling evaluate."""
    ts = {int(round(n_train - k * n_train / s)) - 1 for s in range(1, max_steps + 1) for k in range(s)}
    return np.array(sorted(ts), dtype=np.int64)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m media.train_base", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4000, help="total optimiser steps (a resumed run counts on)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--resolution", default="64", help="training resolution, or a comma list drawn per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100, help="linear learning-rate warm-up steps")
    p.add_argument("--ema", type=float, default=0.998, help="EMA decay of the saved weights (0 = no EMA)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="final fp16 safetensors (+ .json note)")
    p.add_argument("--state", type=Path, default=None, help="resumable state file (default: <out>.state.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the state file")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this wall time")
    p.add_argument("--channels", default="32,64,64", help="UNet block_out_channels")
    p.add_argument("--layers-per-block", type=int, default=1)
    p.add_argument("--space-to-depth", type=int, default=2, choices=(1, 2))
    p.add_argument("--topics", default=None, help="comma list (default: the trend feed's DEFAULT_TOPICS)")
    # Issue 18: 16 layouts per topic taught one-step sampling one blurry mean per topic; any seed is a new layout.
    p.add_argument("--scene-seeds", type=int, default=1_000_000, help="scene layouts per topic in the training data")
    fields = GeneratorConfig.model_fields  # the sampler's defaults, one definition
    p.add_argument(
        "--text-conditioning",
        default=fields["text_conditioning"].default,
        choices=("cross_attention", "embedding"),
        help="embedding: no attention, the prompt joins the timestep embedding (media.generator)",
    )
    p.add_argument(
        "--norm",
        default=fields["norm"].default,
        choices=("group", "position"),
        help="ResNet normalisation; position removes the droplet blob (media.position_norm)",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start a new run from these weights (safetensors): tensors of equal name and shape are copied, "
        "so a run may change the architecture (e.g. drop attention) and keep the convolutions",
    )
    p.add_argument(
        "--distill-from",
        type=Path,
        default=None,
        help="teacher weights (same architecture): a share of each batch learns, at t=999, the teacher's "
        "--distill-steps sample from the same noise, so one step keeps the variety of several",
    )
    p.add_argument("--distill-steps", type=int, default=4)
    p.add_argument("--distill-share", type=float, default=0.5, help="share of each batch that is distilled")
    # 1 thread by default: on a shared, oversubscribed CPU torch's OpenMP threads spin-wait for each other and a
    # 2-thread step measured 20-50x slower than a 1-thread step on the project's 2-core machines.
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cpu", help="where the UNet trains: cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that render the scenes (0 = in this process); the batches are the same for any number",
    )
    p.add_argument(
        "--caption-embeddings",
        type=Path,
        default=None,
        help="npz cache of the captions' MiniLM vectors: written where the embedder is installed, read where "
        "it is not (a GPU machine)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    a.argv = list(argv if argv is not None else sys.argv[1:])
    try:
        a.resolutions = [int(r) for r in str(a.resolution).split(",")]
        a.channels_list = [int(c) for c in str(a.channels).split(",")]
    except ValueError as exc:
        raise TrainError(f"--resolution/--channels must be comma lists of integers: {exc}") from exc
    if a.steps < 1 or a.batch < 1 or a.save_every < 1 or a.scene_seeds < 1 or a.lr <= 0 or not 0 <= a.ema < 1:
        raise TrainError("need --steps, --batch, --save-every, --scene-seeds >= 1, --lr > 0 and 0 <= --ema < 1")
    if a.workers < 0:
        raise TrainError("need --workers >= 0")
    try:
        a.torch_device = torch.device(a.device)
    except RuntimeError as exc:
        raise TrainError(f"--device {a.device!r}: {exc}") from exc
    if a.torch_device.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"--device {a.device}: torch sees no CUDA device here")
    if a.distill_steps < 2 or not 0 < a.distill_share <= 1:
        raise TrainError("need --distill-steps >= 2 and 0 < --distill-share <= 1")
    for path in (a.init_from, a.distill_from):
        if path is not None and not Path(path).is_file():
            raise TrainError(f"no weights file at {path}")
    if a.state is None:
        a.state = a.out.with_suffix(".state.pt")
    return a


def generator_config(a: argparse.Namespace) -> GeneratorConfig:
    return GeneratorConfig(
        block_out_channels=a.channels_list,
        layers_per_block=a.layers_per_block,
        space_to_depth=a.space_to_depth,
        text_conditioning=a.text_conditioning,
        norm=a.norm,
        checkpoint=None,
        init_seed=a.seed,
    )


def _save_state(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves a half-written state


def _export(a: argparse.Namespace, config: GeneratorConfig, weights: dict, note: dict) -> None:
    from safetensors.torch import save_file

    arch = config.model_dump(exclude={"checkpoint"})
    half = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in weights.items()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    save_file(half, str(tmp), metadata={"generator_config": json.dumps(arch)})
    os.replace(tmp, a.out)
    note = {**note, "generator_config": arch, "bytes": a.out.stat().st_size}
    a.out.with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n")


def train(argv: list[str] | None = None, embed=None) -> dict:
    """Run (or resume) a training; returns the JSON note that is written next to the weights."""
    a = parse_args(argv)
    from media.trends import DEFAULT_TOPICS

    topics = [t.strip() for t in a.topics.split(",")] if a.topics else list(DEFAULT_TOPICS)
    if not topics or any(not t for t in topics):
        raise TrainError(f"--topics must be a comma list of non-empty topics, got {a.topics!r}")
    threads_before = torch.get_num_threads()
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        return _train(a, topics, embed)
    finally:
        torch.set_num_threads(threads_before)  # train() may run inside another process (tests, bench)


@dataclass
class _Run:
    """What a training run carries from step to step: exactly what its state file saves (see _Run.state)."""

    config: GeneratorConfig
    unet: torch.nn.Module
    ema: dict[str, torch.Tensor]
    opt: torch.optim.Optimizer
    sched: Any
    rng: np.random.Generator
    step: int = 0
    wall: float = 0.0
    init_copied: int | None = None  # tensors taken from --init-from (None: fresh or resumed)
    losses: list[float] = field(default_factory=list)
    stream: BatchStream | None = None  # the batches; it knows the RNG state of the next one to learn from

    def state(self, argv: list[str]) -> dict:
        return {
            "model": {k: v.cpu() for k, v in self.unet.state_dict().items()},
            "ema": {k: v.cpu() for k, v in self.ema.items()},
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "wall_seconds": self.wall,
            "losses": self.losses,
            "numpy_rng": self.stream.rng_state() if self.stream is not None else self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.unet.device) if self.unet.device.type == "cuda" else None,
            "generator_config": self.config.model_dump(),
            "args": argv,
        }


def _train(a: argparse.Namespace, topics: list[str], embed) -> dict:
    """The run as steps: 1. a fresh (or 2. resumed) model, 3. the data, 4. the step loop with periodic state
    saves, 5. the final state, note and fp16 weights."""
    config = generator_config(a)
    step_multiple = config.space_to_depth * 2 ** (len(config.block_out_channels) - 1)
    if any(r <= 0 or r % step_multiple for r in a.resolutions):
        raise TrainError(f"--resolution values must be positive multiples of {step_multiple}, got {a.resolutions}")
    run = _new_run(a, config)
    if a.resume:
        _resume(run, a)
    elif a.init_from is not None:
        run.init_copied = _init_from(run, a.init_from)
    teacher = _teacher(a, config) if a.distill_from is not None else None
    if embed is None and not (a.caption_embeddings and a.caption_embeddings.is_file()):
        from media.embedding import get_text_embedder

        embed = get_text_embedder().embed
    if a.caption_embeddings is not None:
        embed = cached_embedder(a.caption_embeddings, embed)
    try:
        data = SceneData(topics, a.scene_seeds, embed, EMBED_DIM)
    except (KeyError, ValueError) as exc:
        raise TrainError(str(exc)) from exc
    run.stream = BatchStream(data, run.rng, a.batch, a.resolutions, a.workers, a.torch_device)
    try:
        return _steps(a, topics, run, teacher)
    finally:
        run.stream.close()


def _steps(a: argparse.Namespace, topics: list[str], run: _Run, teacher) -> dict:
    """4. the step loop with periodic state saves, 5. the final state, note and fp16 weights."""
    focus = torch.from_numpy(sampler_timesteps())
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    budget = a.max_minutes * 60 if a.max_minutes else math.inf
    with Progress(*columns, disable=a.quiet, transient=False) as bar:
        task = bar.add_task("train", total=a.steps, completed=run.step, loss="-")
        while run.step < a.steps and time.monotonic() - started < budget:
            _train_step(run, a, focus, teacher)
            bar.update(task, completed=run.step, loss=f"{np.mean(run.losses[-50:]):.4f}")
            if run.step % a.save_every == 0:
                _save_state(a.state, {**run.state(a.argv), "wall_seconds": run.wall + time.monotonic() - started})
    run.wall += time.monotonic() - started
    _save_state(a.state, run.state(a.argv))
    note = _note(a, topics, run)
    _export(a, run.config, run.ema if a.ema else run.unet.state_dict(), note)
    return note


def _new_run(a: argparse.Namespace, config: GeneratorConfig) -> _Run:
    """The model from the seed, its EMA copy, the optimiser, the noise schedule and the data RNG."""
    torch.manual_seed(a.seed)
    unet = build_unet(config).to(a.torch_device).train()
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    opt = torch.optim.AdamW(unet.parameters(), lr=a.lr, weight_decay=0.01)
    sched = build_scheduler(config)
    return _Run(config, unet, ema, opt, sched, np.random.default_rng(a.seed))


def _init_from(run: _Run, path: Path) -> int:
    """Copy every tensor of equal name and shape from a weights file into the model and its EMA; a new
    projection of the text embedding starts at zero (its last layer), so the run starts from the old
    model's behaviour without the dropped layers. Returns how many tensors were copied."""
    from safetensors.torch import load_file

    try:
        saved = load_file(str(path))
    except Exception as exc:
        raise TrainError(f"--init-from {path}: not a safetensors weights file ({exc})") from exc
    own = run.unet.state_dict()
    copied = {k: v.to(own[k].dtype) for k, v in saved.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise TrainError(f"--init-from {path}: no tensor matches this architecture")
    with torch.no_grad():
        for k, v in copied.items():
            own[k].copy_(v)
        new_projection = not any(k.startswith("class_embedding.") for k in copied)
        if getattr(run.unet, "class_embedding", None) is not None and new_projection:
            run.unet.class_embedding.linear_2.weight.zero_()
            run.unet.class_embedding.linear_2.bias.zero_()
    run.ema = {k: v.detach().clone() for k, v in run.unet.state_dict().items()}
    return len(copied)


def _teacher(a: argparse.Namespace, config: GeneratorConfig):
    """The frozen distillation teacher: the sampler itself, loaded from --distill-from."""
    from media.generator import GeneratorLoadError, TinyDiffusionGenerator

    try:
        return TinyDiffusionGenerator(
            config.model_copy(update={"checkpoint": str(a.distill_from)}), device=str(a.torch_device)
        )
    except GeneratorLoadError as exc:
        raise TrainError(f"--distill-from: {exc}") from exc


def _resume(run: _Run, a: argparse.Namespace) -> None:
    """Continue from the state file: weights, EMA, optimiser, counters and both RNG states."""
    if not a.state.is_file():
        raise TrainError(f"--resume: no state file at {a.state}")
    st = torch.load(a.state, map_location=a.torch_device, weights_only=False)
    if st.get("generator_config") != run.config.model_dump():
        raise TrainError(
            f"--resume: {a.state} was trained with another architecture/seed: {st.get('generator_config')}"
        )
    run.unet.load_state_dict(st["model"])
    run.ema = st["ema"]
    run.opt.load_state_dict(st["optimizer"])
    run.step, run.wall, run.losses = st["step"], st["wall_seconds"], st["losses"]
    run.rng.bit_generator.state = st["numpy_rng"]
    torch.set_rng_state(st["torch_rng"].cpu())
    if st.get("cuda_rng") is not None and a.torch_device.type == "cuda":
        torch.cuda.set_rng_state(st["cuda_rng"].cpu(), a.torch_device)


def _train_step(run: _Run, a: argparse.Namespace, focus: torch.Tensor, teacher=None) -> None:
    """One optimiser step on a fresh batch (draws: resolution, batch, noise, timesteps), then the EMA.

    With a teacher, the first --distill-share of the batch is set to t=999 and its target is the teacher's
    multi-step sample from the same x_t (progressive distillation, Salimans & Ho 2022, in one jump): the
    plain objective at t=999 has the blurry mean of all scenes of a prompt as its optimum, this one a map from
    the noise to one sharp scene, so one-step frames of one prompt differ by seed as multi-step ones do."""
    config, sched, dev = run.config, run.sched, a.torch_device
    assert run.stream is not None
    x0, cond = run.stream.next()
    x0 = to_latent(x0, config.space_to_depth)
    noise = torch.randn_like(x0)  # on the training device (its RNG state is saved for a resume)
    uniform = torch.randint(0, 1000, (a.batch,))
    picked = focus[torch.randint(0, len(focus), (a.batch,))]
    t = torch.where(torch.rand(a.batch) < 0.5, uniform, picked)
    n_distill = int(round(a.distill_share * a.batch)) if teacher is not None else 0
    t[:n_distill] = 999
    t = t.to(dev)
    xt = sched.add_noise(x0, noise, t)
    if n_distill:
        x0 = x0.clone()
        x0[:n_distill] = teacher.sample_latents(xt[:n_distill], cond[:n_distill], a.distill_steps).clone()
    if config.prediction_type == "v_prediction":  # for distilled rows: the v whose x0 estimate is the teacher's
        alphas = sched.alphas_cumprod.to(dev, torch.float32)[t].view(-1, 1, 1, 1)
        target = alphas.sqrt() * noise - (1 - alphas).sqrt() * x0
    elif config.prediction_type == "epsilon":
        target = noise
    else:
        target = x0
    out = call_unet(run.unet, xt, t, cond)
    loss = torch.nn.functional.mse_loss(out, target)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"training loss became {loss.item()} at step {run.step}")
    for g in run.opt.param_groups:
        g["lr"] = a.lr * min(1.0, (run.step + 1) / max(1, a.warmup))
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.unet.parameters(), 1.0)
    run.opt.step()
    run.step += 1
    decay = min(a.ema, (1 + run.step) / (10 + run.step)) if a.ema else 0.0
    # one fused update over all float tensors (150 small ones: per-tensor calls dominate a GPU step)
    with torch.no_grad():
        params = run.unet.state_dict()
        floats = [k for k, v in params.items() if v.dtype.is_floating_point]
        torch._foreach_lerp_([run.ema[k] for k in floats], [params[k].detach() for k in floats], 1 - decay)
        for k, v in params.items():
            if not v.dtype.is_floating_point:
                run.ema[k].copy_(v)
    run.losses.append(float(loss.item()))


def _note(a: argparse.Namespace, topics: list[str], run: _Run) -> dict:
    """The JSON note written next to the weights: how they were made and how the run ended."""
    final = float(np.mean(run.losses[-100:])) if run.losses else float("nan")
    import diffusers

    return {
        "command": "python -m media.train_base " + shlex.join(a.argv),
        "seed": a.seed,
        "steps": run.step,
        "batch": a.batch,
        "resolutions": a.resolutions,
        "lr": a.lr,
        "ema": a.ema,
        "topics": topics,
        "scene_seeds": a.scene_seeds,
        "text_conditioning": a.text_conditioning,
        "norm": a.norm,
        "init_from": None if a.init_from is None else str(a.init_from),
        "init_tensors_copied": run.init_copied,
        "distill": None
        if a.distill_from is None
        else {"teacher": str(a.distill_from), "steps": a.distill_steps, "share": a.distill_share},
        "wall_seconds": round(run.wall, 1),
        "device": torch.cuda.get_device_name(a.torch_device) if a.torch_device.type == "cuda" else "cpu",
        "workers": a.workers,
        "final_loss": round(final, 5),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "parameters": sum(p.numel() for p in run.unet.parameters()),
        "weights": "EMA" if a.ema else "last",
        "dtype": "float16",
    }


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        note = train(argv)
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: note[k] for k in ("steps", "wall_seconds", "final_loss")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
