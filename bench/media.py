"""Media speed benchmark (issue 3, "Speed"): prints ONE JSON object; never run by `make test`.

Sections:
  cpu       the embedded generator (default GeneratorConfig) on this machine's CPU: aggregate generated frames/s
            vs streams (1, 4, 8, 16) x resolution (64, 96, 128) at 1 step, raw batched generate() and through
            a StreamEngine in wall timing; the issue's target is >= 30 frames/s at 64x64, 1 step, 8 streams.
  ttcp      time to content-positive of a stream added at default settings, alone and next to 7 running
            streams, in the engine's model timing (the cost model, reproducible) and in wall timing.
  finetune  seconds per runtime finetuning step, when media/finetune.py exists (guarded import).
  quality   issue 18: per topic, the Fréchet distance between the eye's embeddings of 1-step generated frames
            and of the topic's source scenes (64 px), topic accuracy of 1/2/4-step frames (media.base_eval's
            frame-feature classifier) and that classifier's accuracy on scene frames, one-step variety (seeds
            vs source scenes) and the fixed-pattern ratio at 64 and 128 px, the droplet probe (up_path_spike).
  streams128  issue 18's speed bar: 6 streams at 128 px, 8 fps each, 1 and 2 steps, through a StreamEngine
            in wall timing: generated frames/s with the engine's overhead, and whether every stream stayed
            content-positive (target >= 48 frames/s at 1 step).
  gpu       only when torch sees CUDA: the diffusers backend (media.diffusers_generator, the same generate()
            a season calls) on an sd-turbo-architecture UNet (the SD 2.1 UNet config: 865M parameters, 4
            latent channels, 64x64 latents = 512x512 frames) with RANDOM weights and a TAESD-architecture
            AutoencoderTiny, float16, 1 step, batch 1/4/8/16, every item with its own prompt conditioning.
            img2img (TAESD encode + 1 UNet step at strength 0.5 + TAESD decode + copy to host) and txt2img, in
            eager mode, channels_last and torch.compile. Random weights do the same arithmetic as trained
            ones. Target: 3 x StreamDiffusion's 93.9 fps img2img on an RTX 4090 (docs/facts.md) = 281.7 frames/s
            aggregate at batch 16 on an H100.

Run:
  .venv/bin/python bench/media.py                 # everything this machine can do (CPU part ~2-3 min on 2 cores)
  .venv/bin/python bench/media.py --quick         # fewer points
  .venv/bin/python bench/media.py --cpu-only | --gpu-only
  .venv/bin/python bench/media.py --threads 1     # torch threads for the CPU part (default 2); the JSON
                                                  # records the load average: other work skews CPU figures
  .venv/bin/python bench/media.py --checkpoint OLD.safetensors --cpu-only   # another base (before/after)

On a GPU machine: install the project's CUDA build of torch (`pip install torch` without the CPU pin) plus
diffusers, transformers and pydantic, then `python bench/media.py --gpu-only` from the repo root. No weights
are downloaded: the models are built from their configs. The GPU section needs about 10 GB of GPU memory and,
with torch.compile, a few minutes of compilation (use --no-compile to skip it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CPU_TARGET_FPS = 30.0  # issue 3: >= 30 generated frames/s aggregate at 64x64, 1 step, 8 streams, 2-core CPU
GPU_TARGET_FPS = 3 * 93.9  # issue 3: 3 x StreamDiffusion's img2img fps (SD-Turbo, 1 step, 512, RTX 4090)


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------------------------------- CPU
CHECKPOINT: str | None = None  # --checkpoint: another base (its architecture read from its metadata)


def _embedded():
    from media.embedding import get_text_embedder
    from media.generator import TinyDiffusionGenerator, config_for_checkpoint

    embedder = get_text_embedder()
    return TinyDiffusionGenerator(config_for_checkpoint(CHECKPOINT or "base"), embedder), embedder


def _cond(gen, embedder, prompts: list[str]) -> np.ndarray:
    """Conditioning through the generator's own encoder when it has one (seam v2), else the embedder."""
    if hasattr(gen, "encode_prompts"):
        try:
            return gen.encode_prompts(prompts)
        except RuntimeError:
            pass
    return embedder.embed(prompts)


def bench_cpu(streams: tuple[int, ...], resolutions: tuple[int, ...], repeats: int, engine_seconds: float) -> dict:
    """Raw batched generate() frames/s per (streams, resolution), 1 step; engine wall-timing fps at 64 px."""
    from media.cost_model import CostModel
    from media.engine import StreamEngine
    from media.settings import StreamSettings

    gen, embedder = _embedded()
    prompts = [f"scene number {i}, colourful" for i in range(max(streams))]
    cond_all = _cond(gen, embedder, prompts)
    grid = []
    for res in resolutions:
        for n in streams:
            cond = cond_all[:n]
            gens = [torch.Generator().manual_seed(i) for i in range(n)]
            gen.generate(cond, res, 1, gens)  # warm-up: first calls allocate
            times = _timed(lambda: gen.generate(cond, res, 1, gens), repeats)
            grid.append(
                {
                    "streams": n,
                    "resolution": res,
                    "steps": 1,
                    "fps_best": round(n / min(times), 2),
                    "fps_median": round(n / statistics.median(times), 2),
                }
            )
            print(json.dumps(grid[-1]), file=sys.stderr, flush=True)
    at_target = next((g for g in grid if g["streams"] == 8 and g["resolution"] == 64), None)

    engine_rows = []
    if engine_seconds > 0 and 64 in resolutions:
        for n in (s for s in streams if s in (8, 16)):
            engine = StreamEngine(gen, embedder, CostModel(), timing="wall", buffer_seconds=1.0)
            for i in range(n):
                st = StreamSettings(prompt=prompts[i], resolution=64, steps=1, fps=60.0)  # drains faster than it fills
                engine.add_stream(f"s{i}", (lambda st=st: st), seed=i)
            engine.advance(0.3)  # warm-up
            t0 = time.perf_counter()
            reports = engine.advance(engine_seconds)
            wall = time.perf_counter() - t0
            frames = sum(r.frames_generated for r in reports.values())
            engine_rows.append(
                {
                    "streams": n,
                    "resolution": 64,
                    "steps": 1,
                    "engine_fps": round(frames / wall, 2),
                    "wall_seconds": round(wall, 2),
                }
            )
    return {
        "generator": "embedded TinyDiffusionGenerator, default GeneratorConfig()",
        "torch_threads": torch.get_num_threads(),
        "raw_generate": grid,
        "engine_wall_timing": engine_rows,
        "target": {
            "fps": CPU_TARGET_FPS,
            "streams": 8,
            "resolution": 64,
            "steps": 1,
            "measured_fps_best": None if at_target is None else at_target["fps_best"],
            "met": None if at_target is None else at_target["fps_best"] >= CPU_TARGET_FPS,
        },
    }


def bench_quality(seeds: int) -> dict:
    """Issue 18's quality figures of 1-step frames (see the module docstring): the eye's Fréchet distance at
    64 px; variety and the fixed-pattern ratio at 64 px and at the default 128 px; topic accuracy at 1, 2 and 4
    steps, next to the classifier's own accuracy on held-out scene frames (its ceiling); the droplet probe."""
    from media.base_eval import eye_frechet_per_topic, source_classifier, topic_accuracy
    from media.base_variety import (
        fixed_pattern_ratio,
        mean_pairwise_distance,
        prompt_seed_grid,
        source_frames,
        up_path_spike,
    )
    from media.eye import get_embedded_eye
    from media.trends import DEFAULT_TOPICS

    gen, embedder = _embedded()
    topics = list(DEFAULT_TOPICS)
    fd = eye_frechet_per_topic(gen, embedder.embed, get_embedded_eye(), topics, steps=1, seeds=seeds)
    out: dict = {
        "resolution": 64,
        "steps": 1,
        "eye_frechet_per_topic": fd,
        "eye_frechet_mean": round(float(np.mean(list(fd.values()))), 4),
    }
    classifier = source_classifier(topics, 64)
    accuracy = {
        s: round(topic_accuracy(gen, embedder.embed, topics, s, seeds=4, classifier=classifier), 3) for s in (1, 2, 4)
    }
    out["topic_accuracy_1_step"] = accuracy[1]
    out["topic_accuracy_by_steps"] = accuracy
    held_out = {t: source_frames(t, 12, 64) for t in topics}  # other scene seeds than the centroids'
    out["classifier_on_scene_frames"] = round(
        classifier.accuracy(np.concatenate(list(held_out.values())), [t for t in topics for _ in held_out[t]]), 3
    )
    for resolution, suffix in ((64, ""), (128, "_128")):
        grid = prompt_seed_grid(gen, embedder.embed, topics, seeds=8, resolution=resolution)
        out[f"variety_vs_source_per_topic{suffix}"] = {
            t: round(mean_pairwise_distance(grid[k]) / mean_pairwise_distance(source_frames(t, 8, resolution)), 3)
            for k, t in enumerate(topics)
        }
        out[f"fixed_pattern_ratio{suffix}"] = round(fixed_pattern_ratio(grid), 3)
    out["droplet_probe"] = round(up_path_spike(gen, embedder.embed, topics[:8]), 1)
    return out


def bench_streams128(seconds: float, streams: int = 6, fps: float = 8.0) -> dict:
    """6 streams at 128 px and 8 fps through a StreamEngine in wall timing, 1 and 2 steps."""
    from media.cost_model import CostModel
    from media.engine import StreamEngine
    from media.settings import StreamSettings

    gen, embedder = _embedded()
    rows = []
    for steps in (1, 2):
        engine = StreamEngine(gen, embedder, CostModel(), timing="wall", buffer_seconds=2.0)
        for i in range(streams):
            st = StreamSettings(prompt=f"scene number {i}, colourful", resolution=128, steps=steps, fps=fps)
            engine.add_stream(f"s{i}", (lambda st=st: st), seed=i)
        engine.advance(1.0)  # warm-up: first calls allocate, buffers start
        t0 = time.perf_counter()
        reports = engine.advance(seconds)
        wall = time.perf_counter() - t0
        frames = sum(r.frames_generated for r in reports.values())
        rows.append(
            {
                "streams": streams,
                "resolution": 128,
                "steps": steps,
                "fps_each": fps,
                "engine_fps": round(frames / wall, 2),
                "content_positive": sum(r.content_positive for r in reports.values()),
                "stall_seconds": round(sum(r.stall_seconds for r in reports.values()), 2),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows, "target_fps": streams * fps, "met_1_step": rows[0]["engine_fps"] >= streams * fps}


def bench_ttcp(wall_seconds: float) -> dict:
    """TTCP of a stream added at default StreamSettings: alone, and after 7 streams ran for 3 s."""
    from media.cost_model import CostModel
    from media.engine import StreamEngine
    from media.settings import StreamSettings

    gen, embedder = _embedded()
    out = {"settings": StreamSettings().model_dump(include={"resolution", "steps", "fps"})}
    for timing in ("model", "wall"):
        for others in (0, 7):
            engine = StreamEngine(gen, embedder, CostModel(), timing=timing, buffer_seconds=2.0)
            for i in range(others):
                st = StreamSettings(prompt=f"background stream {i}")
                engine.add_stream(f"bg{i}", (lambda st=st: st), seed=100 + i)
            if others:
                engine.advance(3.0)
            st = StreamSettings(prompt="a new stream")
            engine.add_stream("new", lambda: st, seed=1)
            t0, elapsed, rep = time.perf_counter(), 0.0, None
            limit = 10.0 if timing == "model" else wall_seconds
            while elapsed < limit:
                rep = engine.advance(0.5)["new"]
                elapsed += 0.5
                if rep.ttcp is not None and elapsed >= 2.0:  # watched for 2 s: it stays positive
                    break
            out[f"{timing}_timing_{others}_other_streams"] = {
                "ttcp_seconds": None if rep is None or rep.ttcp is None else round(rep.ttcp, 3),
                "startup_delay_seconds": None
                if rep is None or rep.startup_delay is None
                else round(rep.startup_delay, 3),
                "watched_seconds": elapsed,
                "wall_seconds": round(time.perf_counter() - t0, 2),
            }
    return out


def bench_finetune(steps: int) -> dict:
    """Seconds per runtime finetuning step (media.finetune.FinetuneJob, batch 4, 64 px): LoRA and full."""
    try:
        from media.finetune import FinetuneJob
    except ImportError as exc:
        return {"skipped": f"media.finetune not importable ({exc})"}
    gen, _ = _embedded()
    frames = np.random.default_rng(0).integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)
    out = {"resolution": 64, "batch_size": 4, "frames": 16}
    for method in ("lora", "full"):
        try:
            job = FinetuneJob(gen, frames, "ocean waves", steps=steps + 1, method=method, batch_size=4)
            job.step()  # warm-up: optimiser state, first backward
            times = _timed(job.step, steps)
        except (TypeError, AttributeError, ValueError) as exc:  # the API is another engineer's and may move
            out[method] = {"skipped": f"FinetuneJob API mismatch: {exc}"}
            continue
        out[method] = {
            "seconds_per_step_median": round(statistics.median(times), 4),
            "seconds_per_step_best": round(min(times), 4),
            "trainable_parameters": job.trainable_parameters,
        }
    return out


# --------------------------------------------------------------------------------------------------- GPU
SD21_UNET = dict(  # stabilityai/stable-diffusion-2-1(-base) and sd-turbo UNet: 865M parameters
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
)
SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    timestep_spacing="trailing",
    prediction_type="epsilon",
    num_train_timesteps=1000,
)


def build_random_sd(unet_config: dict, taesd_config: dict, device: str, dtype: str, **flags):
    """A DiffusersGenerator over random-weight modules built from configs (nothing downloaded)."""
    from diffusers import AutoencoderTiny, EulerDiscreteScheduler, UNet2DConditionModel

    from media.diffusers_generator import DiffusersGenerator, DiffusersGeneratorConfig

    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**unet_config)
        vae = AutoencoderTiny(**taesd_config)
    cfg = DiffusersGeneratorConfig(kind="diffusers", model="random weights", dtype=dtype, **flags)
    sched = EulerDiscreteScheduler(**SCHEDULER).config
    return DiffusersGenerator.from_components(cfg, unet=unet, vae=vae, scheduler_config=dict(sched), device=device)


def bench_gpu(
    batches: tuple[int, ...],
    iters: int,
    compile_batches: tuple[int, ...],
    device: str = "cuda",
    unet_config: dict | None = None,
    taesd_config: dict | None = None,
    resolution: int = 512,
    dtype: str = "float16",
    log=None,
) -> dict:
    """frames/s of DiffusersGenerator.generate at 1 step per (variant, mode, batch); see the module docstring."""
    from diffusers import AutoencoderTiny, UNet2DConditionModel  # noqa: F401  (fail early if missing)

    unet_config = unet_config or SD21_UNET
    taesd_config = taesd_config or {}
    info: dict = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else device,
        "dtype": dtype,
        "resolution": resolution,
        "steps": 1,
        "torch": torch.__version__,
    }
    rows = []
    variants = [("eager", {}), ("channels_last", {"channels_last": True})]
    if compile_batches:
        variants += [
            ("compile", {"compile": True}),
            ("channels_last+compile", {"channels_last": True, "compile": True}),
        ]
    for name, flags in variants:
        t0 = time.perf_counter()
        gen = build_random_sd(unet_config, taesd_config, device, dtype, **flags)
        build_s = time.perf_counter() - t0
        if name == "eager":
            info["unet_parameters_millions"] = round(sum(p.numel() for p in gen.unet.parameters()) / 1e6, 1)
        dim = gen.cross_attention_dim
        rng = np.random.default_rng(0)
        use = compile_batches if flags.get("compile") else batches
        for b in use:
            cond = rng.standard_normal((b, 77, dim)).astype(np.float32)  # a different "prompt" per item
            init = rng.integers(0, 256, (b, resolution, resolution, 3), dtype=np.uint8)
            for mode in ("img2img", "txt2img"):
                kw = {"init": init, "strength": np.full(b, 0.5)} if mode == "img2img" else {}
                gens = [torch.Generator().manual_seed(i) for i in range(b)]

                def call():
                    return gen.generate(cond, resolution, 1, gens, **kw)

                t0 = time.perf_counter()
                frames = call()  # first call: allocation / compilation
                first_s = time.perf_counter() - t0
                for _ in range(2):
                    call()
                times = _timed(call, iters)
                row = {
                    "variant": name,
                    "mode": mode,
                    "batch": b,
                    "fps": round(b * iters / sum(times), 1),
                    "fps_best": round(b / min(times), 1),
                    "ms_per_batch_median": round(1000 * statistics.median(times), 2),
                    "first_call_seconds": round(first_s, 2),
                    "frames_std": round(float(frames.std()), 2),
                }
                if device == "cuda":
                    row["max_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
                rows.append(row)
                if log is not None:
                    log(row)
        rows.append({"variant": name, "build_seconds": round(build_s, 2)})
        del gen
        if device == "cuda":
            torch.cuda.empty_cache()
    at16 = [r for r in rows if r.get("batch") == 16 and r.get("mode") == "img2img"]
    best = max(at16, key=lambda r: r["fps"]) if at16 else None
    info["rows"] = rows
    info["target"] = {
        "fps": round(GPU_TARGET_FPS, 1),
        "batch": 16,
        "mode": "img2img",
        "best_variant": None if best is None else best["variant"],
        "measured_fps": None if best is None else best["fps"],
        "met": None if best is None else best["fps"] >= GPU_TARGET_FPS,
    }
    return info


# -------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer points and repeats")
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--gpu-only", action="store_true")
    ap.add_argument("--no-compile", action="store_true", help="GPU: skip the torch.compile variants")
    ap.add_argument("--log", default=None, help="GPU: also append each row as a JSON line to this file")
    ap.add_argument("--checkpoint", default=None, help="CPU: another embedded base model (default: the packaged)")
    ap.add_argument("--only", default=None, help="CPU: comma list of sections (cpu,ttcp,finetune,quality,streams128)")
    ap.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPU: torch threads (2 = the project's 2-core machines; 1 is faster when other work shares them)",
    )
    args = ap.parse_args()
    if args.cpu_only and args.gpu_only:
        print("bench/media.py: --cpu-only and --gpu-only exclude each other", file=sys.stderr)
        raise SystemExit(2)
    out: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            # other work on the machine skews CPU figures: compare only at a low load
            "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        }
    }
    t_all = time.perf_counter()
    if not args.gpu_only:
        global CHECKPOINT
        CHECKPOINT = args.checkpoint
        out["machine"]["checkpoint"] = args.checkpoint or "base"
        torch.set_num_threads(max(1, args.threads))
        sections = set((args.only or "cpu,ttcp,finetune,quality,streams128").split(","))
        if "cpu" in sections:
            if args.quick:
                out["cpu"] = bench_cpu((1, 8), (64, 128), repeats=2, engine_seconds=2.0)
            else:
                out["cpu"] = bench_cpu((1, 4, 8, 16), (64, 96, 128), repeats=3, engine_seconds=4.0)
        if "ttcp" in sections:
            out["ttcp"] = bench_ttcp(wall_seconds=4.0 if args.quick else 8.0)
        if "finetune" in sections:
            out["finetune"] = bench_finetune(steps=3 if args.quick else 8)
        if "quality" in sections:
            out["quality"] = bench_quality(seeds=8 if args.quick else 16)
        if "streams128" in sections:
            out["streams128"] = bench_streams128(seconds=4.0 if args.quick else 8.0)
    if not args.cpu_only:
        if not torch.cuda.is_available():
            out["gpu"] = {"skipped": "no CUDA device"}
        else:

            def log(row: dict) -> None:
                print(json.dumps(row), file=sys.stderr, flush=True)
                if args.log:
                    with open(args.log, "a") as f:
                        f.write(json.dumps(row) + "\n")

            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
            batches = (1, 16) if args.quick else (1, 4, 8, 16)
            compile_batches = () if args.no_compile else ((16,) if args.quick else (1, 16))
            out["gpu"] = bench_gpu(batches, iters=10 if args.quick else 30, compile_batches=compile_batches, log=log)
    out["seconds"] = round(time.perf_counter() - t_all, 1)
    out["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
