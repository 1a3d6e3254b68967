"""The Stable Diffusion backend (`generator.model.kind: diffusers`): any SD-1.x/2.x model id or local folder.

Why it exists: the embedded tiny model is what runs on a 2-core CPU; on a GPU a season should stream real
Stable Diffusion frames (sd-turbo at 1 step, or SD1.5 + LCM-LoRA at 2-4 steps, optionally with the TAESD tiny
VAE) through the same `FrameGenerator` seam, so the engine, the agents and the audience do not change.

Why it samples with its own few lines instead of a diffusers pipeline or scheduler: the arena batches ALL
streams that share (resolution, steps) into one UNet call per denoising step, each item with its own prompt
(what StreamDiffusion cannot do, its issue #40) and its own img2img strength. Different strengths mean items
sit at different timesteps inside one batch; the UNet takes a per-item timestep vector, but diffusers'
schedulers keep one step index for the whole batch. So the pipeline is only used to LOAD the components
(UNet, VAE or TAESD, CLIP text encoder + tokenizer, the scheduler's noise schedule), and `generate` runs the
few-step sampler below with per-item timesteps on the variance-preserving formulation:

- item i with strength s_i takes exactly `steps` evaluations on an evenly spaced schedule below s_i * T
  (T = 1000), the same rule as the embedded generator's `strength_timesteps`: with strength 1 it is diffusers'
  "trailing" spacing, so 1 step starts at pure noise t = 999 as SD-Turbo is sampled. Every item takes the same
  number of steps, so all share each batched call; its VAE-encoded init is noised to its first timestep
  (SDEdit). Strength 0 returns the init frame untouched (no VAE round trip, so it cannot drift);
- each step predicts x0 from the model output (epsilon, v or sample prediction, from the model's scheduler
  config); between steps the next noise level is reached with `scheduler`: "lcm" re-noises x0 with fresh noise
  (consistency / adversarial-diffusion sampling; LCM's boundary-condition scalings c_skip, c_out differ from
  0 and 1 by < 0.3% for t >= 1 and are left out), "ddim" re-uses the predicted noise (deterministic),
  "euler-ancestral" is the ancestral (DDIM eta = 1) mix of both;
- every random number of item i comes from generators[i], so a stream's frames depend on its own seed,
  prompt and strength only, not on which other streams shared its batch (up to float rounding).

Loading happens in the constructor, before a season exists (media.diffusers_loading: a model that cannot
be loaded raises one GeneratorLoadError line).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from media.diffusers_loading import check_components, load_components, offline, place, resolve_dtype
from media.generator import GeneratorLoadError

PROMPT_CACHE_SIZE = 1024  # prompts are re-encoded only when new (StreamDiffusion's prompt-embedding cache)


class DiffusersGeneratorConfig(BaseModel):
    """How to load a Stable Diffusion model for streaming. Part of the season config (`generator.model`)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["diffusers"]
    model: str = Field(..., min_length=1, description="hub id (stabilityai/sd-turbo) or local diffusers folder")
    lora: str | None = Field(
        None, description="LoRA hub id or folder fused into the UNet (latent-consistency/lcm-lora-sdv1-5)"
    )
    tiny_vae: str | None = Field(
        None, description="AutoencoderTiny hub id or folder used instead of the VAE (madebyollin/taesd)"
    )
    scheduler: Literal["lcm", "ddim", "euler-ancestral"] = Field(
        "lcm", description="how x0 is re-noised between steps (1 step: all the same)"
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", description="auto: float16 on a GPU, float32 on a CPU"
    )
    guidance_scale: float = Field(
        0.0, ge=0, le=30, description="classifier-free guidance; <= 1 = off (turbo and LCM models need none)"
    )
    local_files_only: bool = Field(
        False, description="never touch the network (also implied by HF_HUB_OFFLINE=1); the cache is tried first anyway"
    )
    channels_last: bool = Field(False, description="UNet/VAE in channels_last memory format (GPU speed knob)")
    compile: bool = Field(False, description="torch.compile the UNet (GPU speed knob; first batches are slow)")


class DiffusersGenerator:
    """A `FrameGenerator` over Stable Diffusion components. Thread-safe: one sampling loop at a time."""

    def __init__(self, config: DiffusersGeneratorConfig, embedder: Any = None, device: str = "cpu") -> None:
        """Load every component now (see the module docstring). `embedder` is accepted for the same call shape
        as the embedded generator and ignored: conditioning comes from the model's own CLIP text encoder."""
        self.config = config
        self.device = torch.device(device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        local_only = config.local_files_only or offline()
        parts = load_components(config, self.dtype, local_only)
        self._setup(**parts)

    @classmethod
    def from_components(
        cls,
        config: DiffusersGeneratorConfig,
        *,
        unet,
        vae,
        scheduler_config: dict,
        text_encoder=None,
        tokenizer=None,
        device: str = "cpu",
    ) -> DiffusersGenerator:
        """Wrap already built modules (benchmarks with random weights; no text encoder = pass `cond` directly)."""
        self = cls.__new__(cls)
        self.config = config
        self.device = torch.device(device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self._setup(
            unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler_config=scheduler_config
        )
        return self

    def _setup(self, *, unet, vae, text_encoder, tokenizer, scheduler_config: dict) -> None:
        """Check the parts fit together, move them to the device, precompute the noise schedule."""
        from diffusers import AutoencoderTiny, DDPMScheduler

        latent_channels = check_components(unet, vae, text_encoder)
        self.unet = place(unet, self.device, self.dtype)
        # A VAE that declares force_upcast (SDXL's) overflows in float16: keep it in float32.
        vae_dtype = (
            torch.float32 if getattr(vae.config, "force_upcast", False) and self.dtype == torch.float16 else self.dtype
        )
        self.vae = place(vae, self.device, vae_dtype)
        self.vae_dtype = vae_dtype
        if self.config.channels_last:
            self.unet.to(memory_format=torch.channels_last)
            self.vae.to(memory_format=torch.channels_last)
        # torch.compile fuses the many small ops around the convolutions; one graph per batch shape.
        maybe_compile = (lambda fn: torch.compile(fn, dynamic=False)) if self.config.compile else (lambda fn: fn)
        self._unet_call = maybe_compile(self.unet)
        self._vae_encode = maybe_compile(self._vae_encode_raw)
        self._vae_decode = maybe_compile(self._vae_decode_raw)
        self.text_encoder = None
        if text_encoder is not None:
            self.text_encoder = place(text_encoder, self.device, self.dtype)
        self.tokenizer = tokenizer
        self.tiny_vae = isinstance(vae, AutoencoderTiny)
        self.scaling_factor = float(getattr(vae.config, "scaling_factor", 1.0) or 1.0)
        self.shift_factor = float(getattr(vae.config, "shift_factor", 0.0) or 0.0)
        self.latent_channels = latent_channels
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.cross_attention_dim = int(unet.config.cross_attention_dim)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = DDPMScheduler.from_config(scheduler_config)
        self.scheduler_config = dict(scheduler_config)  # runtime finetuning (media.finetune_sd) noises with it
        self.num_train_timesteps = int(sched.config.num_train_timesteps)
        self.prediction_type = str(sched.config.prediction_type)
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise GeneratorLoadError(f"unsupported prediction_type {self.prediction_type!r} in the scheduler config")
        self.alphas_cumprod = sched.alphas_cumprod.to(torch.float32)  # CPU; indexed per item
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def with_unet(self, unet: torch.nn.Module) -> DiffusersGenerator:
        """A separate generator that samples with `unet` and shares every other part (VAE, text encoder,
        tokenizer, schedule) with this one: a finetuned stream's model costs one UNet, not a pipeline."""
        return type(self).from_components(
            self.config,
            unet=unet,
            vae=self.vae,
            scheduler_config=self.scheduler_config,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            device=str(self.device),
        )

    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (n, R, R, 3) -> the scaled latents the UNet works in, float32 (n, C, h, w) on the device (the
        VAE's mean, as img2img uses): what runtime finetuning trains on. Waits for a running generate()."""
        with self._lock, torch.no_grad():  # not inference_mode: the latents become training inputs
            return self._encode(np.asarray(frames, dtype=np.uint8))

    # --------------------------------------------------------------- protocol
    @property
    def downscale(self) -> int:
        """Resolutions must be multiples of the VAE's downsampling (8 for SD and TAESD)."""
        return self.vae_scale_factor

    def encode_prompts(self, prompts: list[str]) -> np.ndarray:
        """CLIP last hidden states, float32 (B, 77, D); each prompt is encoded once and cached."""
        if self.text_encoder is None or self.tokenizer is None:
            raise RuntimeError("this generator was built without a text encoder; pass conditioning directly")
        with self._lock:
            return self._encode_cached(list(prompts))

    def generate(
        self,
        cond: np.ndarray,
        resolution: int,
        steps: int,
        generators: list[torch.Generator],
        init: np.ndarray | None = None,
        strength: np.ndarray | None = None,
    ) -> np.ndarray:
        """One frame per row of `cond` as uint8 (B, R, R, 3); one batched UNet call per step for all items.

        Read as a pipeline: 1. draw every item's randomness, 2. schedule per-item timesteps, 3. prepare the
        latents (noise, or the noised init), 4. embed the prompts, 5. the denoising loop, 6. decode.
        """
        cond = np.asarray(cond, dtype=np.float32)
        init = None if init is None else np.asarray(init)
        b = self._check(cond, resolution, steps, generators, init, strength)
        if b == 0:
            return np.zeros((0, resolution, resolution, 3), dtype=np.uint8)
        s = np.ones(b) if init is None else np.asarray(strength, dtype=np.float64)
        passthrough = s <= 0.0  # strength 0: the init frame as it is
        h = resolution // self.vae_scale_factor
        shape = (self.latent_channels, h, h)
        # 1. Every item's initial noise is drawn, whatever its strength (as the embedded generator does), so a
        # stream's random sequence does not depend on its strength knob.
        noise0_all = [self._randn(shape, g) for g in generators]
        out = np.empty((b, resolution, resolution, 3), dtype=np.uint8)
        if passthrough.any():
            out[passthrough] = init[passthrough]
        idx = np.flatnonzero(~passthrough)
        if idx.size == 0:
            return out
        ts = self._timesteps(s[idx], steps)  # 2.
        # Each item's randomness from its own generator: first its initial noise, then one draw per later step.
        noise0 = torch.stack([noise0_all[i] for i in idx])
        renoise = self._draw_renoise(shape, [generators[i] for i in idx], steps)
        with self._lock, torch.inference_mode():
            x = self._prepare_latents(noise0, init, idx, s, ts)  # 3.
            c = self._prompt_embeds(cond[idx])  # 4.
            x = self._denoise(x, c, ts, steps, renoise)  # 5.
            frames = self._decode(x)  # 6.
        out[idx] = frames
        return out

    # ------------------------------------------------------- generate's steps
    def _timesteps(self, s: np.ndarray, steps: int) -> np.ndarray:
        """Timesteps (n, steps): evenly spaced below s*T; diffusers' trailing spacing for strength 1. The same
        rule as the embedded generator's strength_timesteps, so a strength means the same on both backends."""
        T = self.num_train_timesteps
        span = s[:, None] * T
        k = np.arange(steps)[None, :]
        return np.clip(np.round(span - k * span / steps).astype(np.int64) - 1, 0, T - 1)

    def _draw_renoise(
        self, shape: tuple[int, ...], generators: list[torch.Generator], steps: int
    ) -> list[torch.Tensor] | None:
        """The fresh noise of every later step (None for 1 step or ddim, which re-uses the predicted noise),
        drawn step by step, item by item, before any model call."""
        if steps > 1 and self.config.scheduler != "ddim":
            return [torch.stack([self._randn(shape, g) for g in generators]) for _ in range(steps - 1)]
        return None

    def _prepare_latents(
        self, noise0: torch.Tensor, init: np.ndarray | None, idx: np.ndarray, s: np.ndarray, ts: np.ndarray
    ) -> torch.Tensor:
        """Pure noise for text-to-image items; for img2img items (strength < 1) their VAE-encoded init noised
        to their first timestep (SDEdit)."""
        x = noise0.to(self.device, torch.float32)
        img2img = np.flatnonzero(s[idx] < 1.0)
        if img2img.size:
            z0 = self._encode(init[idx[img2img]])
            a = self.alphas_cumprod[ts[img2img, 0]].to(self.device).view(-1, 1, 1, 1)
            x[img2img] = a.sqrt() * z0 + (1 - a).sqrt() * x[img2img]
        return x

    def _prompt_embeds(self, cond: np.ndarray) -> torch.Tensor:
        """The conditioning on the device; with guidance, the empty prompt's rows first (one doubled batch)."""
        c = torch.from_numpy(cond).to(self.device, self.dtype)
        if self.config.guidance_scale > 1.0:
            c = torch.cat([self._uncond(c.shape[1:]).expand(len(cond), -1, -1), c])
        return c

    def _denoise(
        self, x: torch.Tensor, c: torch.Tensor, ts: np.ndarray, steps: int, renoise: list[torch.Tensor] | None
    ) -> torch.Tensor:
        """`steps` batched UNet calls with per-item timesteps; returns the last x0 estimate."""
        dev, dt = self.device, self.dtype
        ab = self.alphas_cumprod
        guided = self.config.guidance_scale > 1.0
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for j in range(steps):
            t = torch.from_numpy(ts[:, j]).to(dev)
            a = ab[ts[:, j]].to(dev).view(-1, 1, 1, 1)
            xin = x.to(dt)
            if guided:
                pred = self._unet_call(torch.cat([xin, xin]), torch.cat([t, t]), encoder_hidden_states=c).sample
                pu, pc = pred.float().chunk(2)
                pred = pu + self.config.guidance_scale * (pc - pu)
            else:
                pred = self._unet_call(xin, t, encoder_hidden_states=c).sample.float()
            x0, eps = self._x0_eps(x, pred, a)
            if j == steps - 1:
                x = x0
                break
            a_next = ab[ts[:, j + 1]].to(dev).view(-1, 1, 1, 1)
            x = self._to_next(x0, eps, a, a_next, None if renoise is None else renoise[j].to(dev))
        return x

    # -------------------------------------------------------------- internals
    def _check(self, cond, resolution, steps, generators, init, strength) -> int:
        if cond.ndim != 3 or cond.shape[2] != self.cross_attention_dim:
            raise ValueError(f"cond must have shape (B, L, {self.cross_attention_dim}), got {cond.shape}")
        b = cond.shape[0]
        if len(generators) != b:
            raise ValueError(f"need one torch.Generator per item: {len(generators)} for {b} items")
        if resolution <= 0 or resolution % self.downscale:
            raise ValueError(f"resolution must be a positive multiple of {self.downscale}, got {resolution}")
        if not 1 <= steps <= 50:
            raise ValueError(f"steps must be 1..50, got {steps}")
        if init is None:
            if strength is not None:
                raise ValueError("strength was given without init frames (img2img needs both)")
            return b
        if init.shape != (b, resolution, resolution, 3) or init.dtype != np.uint8:
            raise ValueError(
                f"init must be uint8 frames of shape {(b, resolution, resolution, 3)}, got {init.dtype} {init.shape}"
            )
        if strength is None:
            raise ValueError("init frames were given without strength (one value in [0, 1] per item)")
        st = np.asarray(strength, dtype=np.float64)
        if st.shape != (b,) or not np.all(np.isfinite(st)) or st.min(initial=0.0) < 0 or st.max(initial=0.0) > 1:
            raise ValueError(f"strength must be {b} finite values in [0, 1], got {np.asarray(strength).tolist()}")
        return b

    @staticmethod
    def _randn(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
        return torch.randn(shape, generator=g, device=g.device, dtype=torch.float32).cpu()

    def _uncond(self, shape: torch.Size) -> torch.Tensor:
        """The empty prompt's conditioning (classifier-free guidance), cached like any prompt."""
        if self.text_encoder is None or self.tokenizer is None:
            return torch.zeros((1, *shape), device=self.device, dtype=self.dtype)
        return torch.from_numpy(self._encode_cached([""])).to(self.device, self.dtype)

    def _encode_cached(self, prompts: list[str]) -> np.ndarray:
        """Encode the prompts not cached yet in one text-encoder call; the caller holds the lock."""
        missing = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        if missing:
            tok = self.tokenizer(
                missing,
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = self.text_encoder(tok.input_ids.to(self.device))[0]
            for p, h in zip(missing, hidden.float().cpu().numpy()):
                self._cache[p] = h
        rows = [self._cache[p] for p in prompts]
        for p in prompts:
            self._cache.move_to_end(p)
        while len(self._cache) > PROMPT_CACHE_SIZE:
            self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, self.tokenizer.model_max_length, self.cross_attention_dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)

    def _x0_eps(self, x: torch.Tensor, pred: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The clean-latent estimate and the implied noise, from whichever quantity the model predicts."""
        sa, s1 = a.sqrt(), (1 - a).sqrt()
        if self.prediction_type == "epsilon":
            return (x - s1 * pred) / sa, pred
        if self.prediction_type == "v_prediction":
            return sa * x - s1 * pred, sa * pred + s1 * x
        return pred, (x - sa * pred) / s1.clamp_min(1e-6)

    def _to_next(self, x0, eps, a, a_next, fresh) -> torch.Tensor:
        """Move to the next (lower) noise level: fresh noise (lcm), predicted noise (ddim) or both (ancestral)."""
        mode = self.config.scheduler
        if mode == "ddim":
            return a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        if mode == "lcm":
            return a_next.sqrt() * x0 + (1 - a_next).sqrt() * fresh
        sigma = ((1 - a_next) / (1 - a) * (1 - a / a_next)).clamp_min(0).sqrt()
        return a_next.sqrt() * x0 + (1 - a_next - sigma**2).clamp_min(0).sqrt() * eps + sigma * fresh

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (n, R, R, 3) -> scaled latents float32 (n, C, h, w); the VAE's mean, so no extra randomness."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2)
        x = x.to(self.vae_dtype) / 127.5 - 1.0
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        z = self._vae_encode(x)
        return (z.float() - self.shift_factor) * self.scaling_factor

    def _vae_encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        if self.tiny_vae:
            return self.vae.encode(x).latents
        return self.vae.encode(x).latent_dist.mode()

    def _vae_decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).sample

    def _decode(self, latents: torch.Tensor) -> np.ndarray:
        """Scaled latents -> uint8 (n, R, R, 3) on the CPU."""
        z = (latents / self.scaling_factor + self.shift_factor).to(self.vae_dtype)
        img = self._vae_decode(z)
        img = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return img.permute(0, 2, 3, 1).cpu().numpy()
