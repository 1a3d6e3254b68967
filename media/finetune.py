"""Runtime finetuning: a stream trains its OWN copy of the generator on frames of a live source.

The embedded generator's job is here; the Stable Diffusion (diffusers) backend's LoRA job is
media.finetune_sd.SDFinetuneJob, a subclass that reuses this step, batch order, resume state and export of
the trained tensors. `new_job` / `job_from_state` / `generator_with_weights` pick one by the base's backend.

Just over 400 lines on purpose: FinetuneJob's step, resume state and export share one private model copy and
one RNG order that a replayed season must follow; its step cost is media.finetune_cost.

Why this shape:
* stepwise: `FinetuneJob.step()` is one optimiser step, so the engine can interleave finetune steps with
  generation on the same device and charge each one on its (deterministic) timeline (`FinetuneCost`);
* a private copy: the job deep-copies the base UNet, so the base generator (shared by every other stream)
  is never touched; `export_generator()` hands back a separate, ready-to-sample generator with the LoRA
  merged into plain weights, so sampling costs exactly what the base costs and a stream swaps models
  between two batches without stopping;
* LoRA via `peft` on the attention projections and the ResNet/output convolutions by default, or full
  finetuning (`method="full"`), which the tiny model can afford and which learns much faster from a
  random or weak base (LoRA only adapts the attention layers; see tests/media/test_finetune.py);
* the same objective as the base trainer (media.train_base) and the sampler (media.generator): the same
  scheduler and prediction_type (v-prediction: target = scheduler.get_velocity), the same model space
  (media.pixel_unshuffle's pixel-unshuffle), half the timesteps uniform and half those 1-4-step sampling evaluates;
* deterministic: batch order, timesteps, noise and the LoRA initialisation come from `seed` only, so a
  turn-based season replays the same loss curve and the same adapter;
* identity: every produced model has a stable `model_id` (base id + hash of the trained tensors), so the
  engine batches streams that share a model and separates those that do not.

Checkpoints (media.finetune_checkpoints) hold only what was trained, with JSON metadata in the safetensors header;
what a step costs on the engine's time line is media.finetune_cost.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import weakref
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import first_line
from media.diffusers_generator import DiffusersGenerator
from media.generator import EMBED_DIM, TinyDiffusionGenerator, build_scheduler, call_unet
from media.pixel_unshuffle import to_latent
from media.train_base import sampler_timesteps  # the base trainer's timestep mix, shared on purpose

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]  # the attention projections of every transformer block
# ... plus the ResNet convolutions and the output convolution. Colour and texture live mostly there: on a
# 600-step tiny base, 60 LoRA steps moved "neon tunnel" prompt frames towards "ocean waves" by 20-30% (feature
# distance) with LORA_TARGETS and by 56% with these, as much as full finetuning, at the same step time.
LORA_CONV_TARGETS = LORA_TARGETS + ["conv1", "conv2", "conv_out"]
MAX_STEPS = 10_000


class FinetuneError(ValueError):
    """Bad finetune arguments, or an adapter checkpoint that is missing, corrupt or for another base."""


class FinetuneConfig(BaseModel):
    """The knobs of one finetune job (validated here so that a bad value is one FinetuneError line)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(ge=1, le=MAX_STEPS)
    method: Literal["lora", "full"] = "lora"
    # Adam's step size. LoRA starts from B = 0 and needs a larger one than moving all weights does.
    lr: float | None = Field(None, gt=0, le=1.0, description="None: 1e-2 for LoRA, 1e-3 for full (1e-4 for an SD UNet)")
    rank: int = Field(8, ge=1, le=128)
    alpha: float | None = Field(None, gt=0, description="LoRA scale numerator; None = rank (scale 1)")
    # Attention + convolutions by default: attention-only LoRA missed the bar (>= 30% closer to the
    # scene) on a trained base, these targets reached 56% (see LORA_CONV_TARGETS). An SD UNet's job
    # (media.finetune_sd) defaults to the attention projections only, diffusers' LoRA recipe.
    target_modules: list[str] = Field(default_factory=lambda: list(LORA_CONV_TARGETS), min_length=1)
    batch_size: int = Field(4, ge=1, le=64)
    seed: int = 0
    grad_clip: float = Field(1.0, gt=0)
    source_id: str = Field("", max_length=200, description="where the frames came from (metadata only)")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-2 if self.method == "lora" else 1e-3)

    @property
    def lora_alpha(self) -> float:
        return self.alpha if self.alpha is not None else float(self.rank)


# ---------------------------------------------------------------------------------------------- identity
_BASE_IDS: weakref.WeakKeyDictionary[object, tuple[int, str]] = weakref.WeakKeyDictionary()


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of a state dict, in name order (hex)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def model_id(generator: TinyDiffusionGenerator | DiffusersGenerator) -> str:
    """A stable id of the weights a generator samples with: streams with equal ids can share a batch.

    A generator produced here carries its own `model_id`. Any other (the season's base) gets "base-" + a hash
    of its UNet weights, cached per instance (keyed on the parameters' version counters, so a later
    load_checkpoint() gives a new id).
    """
    own = getattr(generator, "model_id", None)
    if isinstance(own, str) and own:
        return own
    version = sum(p._version for p in generator.unet.state_dict().values())
    cached = _BASE_IDS.get(generator)
    if cached is not None and cached[0] == version:
        return cached[1]
    ident = "base-" + tensors_digest(generator.unet.state_dict())[:16]
    _BASE_IDS[generator] = (version, ident)
    return ident


def finetuned_model_id(base_id: str, trained: dict[str, torch.Tensor]) -> str:
    """The id of a finetuned model: its base and exactly what was trained (equal after a save/load)."""
    return "ft-" + hashlib.sha256(f"{base_id}|{tensors_digest(trained)}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- LoRA helpers
def add_lora(unet: torch.nn.Module, cfg: FinetuneConfig) -> None:
    """Inject peft LoRA layers into `unet` in place; LoRA A is initialised from torch's global RNG."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.lora_alpha,
        target_modules=list(cfg.target_modules),
        lora_dropout=0.0,
        init_lora_weights=True,
    )
    try:
        inject_adapter_in_model(lora, unet)
    except ValueError as exc:  # peft: no module matched target_modules
        raise FinetuneError(f"target_modules {cfg.target_modules}: {first_line(exc)}") from exc


def merged_state(peft_unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Plain UNet weights with every LoRA delta folded in: W + (alpha/r) B A, in the base's key names."""
    from peft.tuners.lora import LoraLayer

    state: dict[str, torch.Tensor] = {}
    lora_prefixes = []
    for name, module in peft_unet.named_modules():
        if isinstance(module, LoraLayer):
            lora_prefixes.append(name + ".")
            base = module.get_base_layer()
            state[name + ".weight"] = base.weight.detach() + module.get_delta_weight("default").detach()
            if base.bias is not None:
                state[name + ".bias"] = base.bias.detach()
    for key, value in peft_unet.state_dict().items():
        if any(key.startswith(p) for p in lora_prefixes):
            continue  # base_layer / lora_A / lora_B entries were folded above
        state[key] = value.detach()
    return {k: v.clone() for k, v in state.items()}


def lora_in_float32(unet: torch.nn.Module) -> None:
    """LoRA A/B in float32 even on a float16 UNet (peft casts each layer's input), as diffusers' LoRA training
    does: Adam on float16 weights underflows, and a float16 merge would round the delta away."""
    for name, p in unet.named_parameters():
        if "lora_" in name and p.dtype != torch.float32:
            p.data = p.data.float()


def generator_with_weights(base, state: dict[str, torch.Tensor], ident: str):
    """A separate generator with `base`'s configuration and embedder (or, for the diffusers backend, its VAE,
    text encoder and schedule) and the given UNet weights."""
    if isinstance(base, DiffusersGenerator):
        from media.finetune_sd import sd_generator_with_weights

        return sd_generator_with_weights(base, state, ident)
    config = base.config.model_copy(update={"checkpoint": None})  # weights come from `state`, not a file
    out = TinyDiffusionGenerator(config, base.embedder, device=str(base.device))
    try:
        out.unet.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FinetuneError(f"finetuned weights do not fit this generator: {first_line(exc)}") from exc
    out.model_id = ident  # type: ignore[attr-defined]  # read by model_id()
    return out


def check_embedded(base: object) -> TinyDiffusionGenerator:
    if not isinstance(base, TinyDiffusionGenerator):
        raise FinetuneError(f"this finetune job needs the embedded generator, got {type(base).__name__}")
    return base


def check_base(base: object) -> TinyDiffusionGenerator | DiffusersGenerator:
    """A base either backend can finetune: the embedded generator or a Stable Diffusion (diffusers) one."""
    if not isinstance(base, (TinyDiffusionGenerator, DiffusersGenerator)):
        raise FinetuneError(
            f"runtime finetuning needs the embedded generator or a diffusers one, got {type(base).__name__}"
        )
    return base


def parse_config(options: dict) -> FinetuneConfig:
    """The job's options as a FinetuneConfig; a bad value is one FinetuneError line naming the field."""
    try:
        return FinetuneConfig(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "finetune"
        raise FinetuneError(f"finetune {where}: {err['msg']} (got {err.get('input')!r})"[:300]) from None


def check_frames(frames: np.ndarray, downscale: int) -> None:
    """uint8 (N, R, R, 3), N >= 1, R a multiple of the generator's `downscale`, or one FinetuneError line."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise FinetuneError(f"frames must be uint8 (N, R, R, 3), got {got}")
    n, h, w, _ = frames.shape
    if n == 0:
        raise FinetuneError("frames is empty: capture at least one frame to finetune on")
    if h != w or h % downscale:
        raise FinetuneError(f"frames must be square with a side that is a multiple of {downscale}, got {h}x{w}")


def new_job(base: object, frames: np.ndarray, cond, **options) -> FinetuneJob:
    """A finetune job for whichever backend `base` is (FinetuneJob or media.finetune_sd.SDFinetuneJob)."""
    if isinstance(check_base(base), DiffusersGenerator):
        from media.finetune_sd import SDFinetuneJob

        return SDFinetuneJob(base, frames, cond, **options)
    return FinetuneJob(base, frames, cond, **options)


def job_from_state(base: object, state: dict) -> FinetuneJob:
    """new_job's counterpart for a job saved with state_dict()."""
    if isinstance(check_base(base), DiffusersGenerator):
        from media.finetune_sd import SDFinetuneJob

        return SDFinetuneJob.from_state_dict(base, state)
    return FinetuneJob.from_state_dict(base, state)


# ---------------------------------------------------------------------------------------------- the job
def _frames_tensor(frames: np.ndarray, base: TinyDiffusionGenerator) -> torch.Tensor:
    """uint8 (N, R, R, 3) -> the model's space (N, C, h, w) in [-1, 1], checked."""
    check_frames(frames, base.downscale)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0
    return to_latent(x, base.config.space_to_depth).to(base.device)


def _cond_tensor(cond: np.ndarray | str, base: TinyDiffusionGenerator) -> torch.Tensor:
    if isinstance(cond, str):
        if base.embedder is None:
            raise FinetuneError(
                "a prompt was given as caption but the base generator has no text embedder; "
                "pass its (384,) embedding instead"
            )
        cond = base.encode_prompts([cond])[0]
    c = np.asarray(cond, dtype=np.float32)
    if c.shape == (1, EMBED_DIM):
        c = c[0]
    if c.shape != (EMBED_DIM,) or not np.all(np.isfinite(c)):
        raise FinetuneError(
            f"caption conditioning must be a finite ({EMBED_DIM},) embedding or a prompt, got shape {c.shape}"
        )
    return torch.from_numpy(c.copy()).to(base.device)


class FinetuneJob:
    """One finetune of a private copy of `base` on captured frames, one optimiser step per `step()` call.

    `cond` is the prompt conditioning the frames are paired with (a (384,) embedding, or a prompt that the
    base's embedder encodes): train with the prompt the stream samples with, and its frames move to the scene.
    Thread-safe: step() and export_generator() may be called from different threads.
    """

    def __init__(self, base: TinyDiffusionGenerator, frames: np.ndarray, cond: np.ndarray | str, **options) -> None:
        self.base = check_embedded(base)
        self.config = parse_config(options)
        cfg = self.config
        self.base_id = model_id(base)
        self.frames = _frames_tensor(frames, base)
        self._frames_uint8 = frames.copy()  # checked above; kept for state_dict()
        self.resolution = int(frames.shape[1])
        self.cond = _cond_tensor(cond, base)
        self.scheduler = build_scheduler(base.config)  # its own: add_noise moves tensors in place
        self.prediction_type = base.config.prediction_type
        self.train_timesteps = 1000
        self.focus_timesteps = torch.from_numpy(sampler_timesteps())
        self.rng = torch.Generator().manual_seed(cfg.seed)  # on the CPU: the same draws on any device

        self.unet = copy.deepcopy(base.unet)
        if cfg.method == "lora":
            with torch.random.fork_rng(devices=[]):  # peft initialises LoRA A from the global RNG
                torch.manual_seed(cfg.seed)
                add_lora(self.unet, cfg)
            for name, p in self.unet.named_parameters():
                p.requires_grad_("lora_" in name)
        else:
            self.unet.requires_grad_(True)
        self.unet.train()
        self.params = [p for p in self.unet.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.learning_rate, weight_decay=0.0)

        self.steps_done = 0
        self.losses: list[float] = []
        self._order = torch.empty(0, dtype=torch.long)  # frame indices left in this epoch
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self.steps_done >= self.config.steps

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.params)

    def _next_batch(self) -> torch.Tensor:
        """Frame indices: epochs of a seeded permutation, so every frame is used before any repeats."""
        want = min(self.config.batch_size, len(self.frames))
        while len(self._order) < want:
            self._order = torch.cat([self._order, torch.randperm(len(self.frames), generator=self.rng)])
        idx, self._order = self._order[:want], self._order[want:]
        return idx

    def loss_on(self, x0: torch.Tensor) -> torch.Tensor:
        """The diffusion loss on clean latents x0 with timesteps and noise from the job's generator."""
        b = x0.shape[0]
        uniform = torch.randint(0, self.train_timesteps, (b,), generator=self.rng)
        focus = self.focus_timesteps[torch.randint(0, len(self.focus_timesteps), (b,), generator=self.rng)]
        t = torch.where(torch.rand(b, generator=self.rng) < 0.5, uniform, focus)
        noise = torch.randn(x0.shape, generator=self.rng).to(x0.device)
        t = t.to(x0.device)
        xt = self.scheduler.add_noise(x0, noise, t)
        if self.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(x0, noise, t)
        elif self.prediction_type == "epsilon":
            target = noise
        else:
            target = x0
        return torch.nn.functional.mse_loss(self.predict(xt, t), target)

    def predict(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The trained UNet's output for noised latents at timesteps t, conditioned on the job's prompt."""
        return call_unet(self.unet, xt, t, self.cond.expand(xt.shape[0], EMBED_DIM))

    def step(self) -> float:
        """One optimiser step; returns its loss. Raises FinetuneError once all `steps` are done."""
        with self._lock:
            if self.done:
                raise FinetuneError(f"this finetune job already did its {self.config.steps} steps")
            with torch.enable_grad():
                loss = self.loss_on(self.frames[self._next_batch().to(self.frames.device)])
                if not torch.isfinite(loss):
                    raise FinetuneError(
                        f"finetune loss became {loss.item()} at step {self.steps_done} "
                        f"(lower lr, now {self.config.learning_rate})"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
                self.optimizer.step()
            self.steps_done += 1
            self.losses.append(float(loss.item()))
            return self.losses[-1]

    def run(self, max_steps: int | None = None) -> list[float]:
        """Do up to `max_steps` remaining steps (all by default); returns their losses."""
        todo = self.config.steps - self.steps_done if max_steps is None else max_steps
        return [self.step() for _ in range(max(0, min(todo, self.config.steps - self.steps_done)))]

    def trained_tensors(self) -> dict[str, torch.Tensor]:
        """What this job changed, on the CPU: LoRA A/B matrices (peft's names) or the full UNet weights."""
        with self._lock:
            return self._trained_tensors()

    def _trained_tensors(self) -> dict[str, torch.Tensor]:
        if self.config.method == "lora":
            from peft import get_peft_model_state_dict

            state = get_peft_model_state_dict(self.unet)
        else:
            state = self.unet.state_dict()
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}

    def current_model_id(self) -> str:
        return finetuned_model_id(self.base_id, self.trained_tensors())

    def export_generator(self) -> TinyDiffusionGenerator:
        """A separate ready-to-sample generator with the weights as they are now (LoRA merged)."""
        with self._lock:  # one lock: the id and the weights describe the same step
            trained = self._trained_tensors()
            state = (
                merged_state(self.unet)
                if self.config.method == "lora"
                else {k: v.detach().clone() for k, v in self.unet.state_dict().items()}
            )
        return generator_with_weights(self.base, state, finetuned_model_id(self.base_id, trained))

    def state_dict(self) -> dict:
        """Everything needed to continue this job exactly (a season resumed between rounds mid-finetune):
        the captured frames and conditioning, options, trained tensors, optimiser, RNG and batch order."""
        with self._lock:
            return {
                "options": self.config.model_dump(),
                "frames": self._frames_uint8.copy(),
                "cond": self.cond.cpu().numpy().copy(),
                "base_model_id": self.base_id,
                "trained": self._trained_tensors(),
                "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                "rng": self.rng.get_state().clone(),
                "order": self._order.clone(),
                "steps_done": self.steps_done,
                "losses": list(self.losses),
            }

    @classmethod
    def from_state_dict(cls, base: TinyDiffusionGenerator, state: dict) -> FinetuneJob:
        """Rebuild a job saved with state_dict() on the same base; its next step() is the one it would have done."""
        try:
            job = cls(base, state["frames"], state["cond"], **state["options"])
            if state["base_model_id"] != job.base_id:
                raise FinetuneError(f"finetune state was made on base {state['base_model_id']}, not {job.base_id}")
            if job.config.method == "lora":
                from peft import set_peft_model_state_dict

                set_peft_model_state_dict(job.unet, state["trained"])
            else:
                job.unet.load_state_dict(state["trained"])
            job.optimizer.load_state_dict(state["optimizer"])
            job.rng.set_state(state["rng"])
            job._order = state["order"].clone()
            job.steps_done, job.losses = int(state["steps_done"]), list(state["losses"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise FinetuneError(f"unusable finetune state: {first_line(exc)}") from exc
        return job

    def metadata(self) -> dict:
        """What a checkpoint records about this job (JSON-safe)."""
        cfg = self.config
        recent = self.losses[-20:]
        return {
            "format": 1,
            "method": cfg.method,
            "base_model_id": self.base_id,
            "generator_config": self.base.config.model_dump(exclude={"checkpoint"}),
            "rank": cfg.rank if cfg.method == "lora" else None,
            "alpha": cfg.lora_alpha if cfg.method == "lora" else None,
            "target_modules": list(cfg.target_modules) if cfg.method == "lora" else None,
            "steps_done": self.steps_done,
            "steps": cfg.steps,
            "lr": cfg.learning_rate,
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
            "source_id": cfg.source_id,
            "resolution": self.resolution,
            "frames": int(len(self.frames)),
            "loss": float(np.mean(recent)) if recent else None,
        }
