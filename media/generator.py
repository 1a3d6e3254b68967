"""The embedded generator: a tiny text-conditioned pixel-space diffusion model (diffusers UNet + scheduler).

Why this shape: it must run on a 2-core CPU with no download, so the UNet works directly on RGB pixels (no
VAE) and is conditioned on the pooled all-MiniLM-L6-v2 embedding of the prompt, fed as a one-token
`encoder_hidden_states` sequence (B, 1, 384). The default configuration does about 20 samples/s at batch 8,
64x64 on the project's 2-core machines (FACTS.md: a 4.6M-parameter UNet does 14-17 evaluations/s at batch 1).

Streams with the same (resolution, steps) share ONE batched UNet forward per denoising step, each item with
its own prompt embedding and its own `torch.Generator` for its initial noise, so a stream's frames depend on
its own seed and prompt, not on which other streams happened to share its batch (up to float rounding of
the batched convolution, which is checked in the tests).
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from media.embedding import Embedder

EMBED_DIM = 384


class FrameGenerator(Protocol):
    """What the engine needs from a generator: the embedded one here, media.diffusers_generator on a GPU.

    The seam (v2) is prompt-conditioning based, so a backend brings its own text encoder (MiniLM for the
    embedded model, CLIP for Stable Diffusion). Conditioning rows can be linearly interpolated, which is how
    prompt changes travel smoothly over a transition time instead of cutting.
    """

    @property
    def downscale(self) -> int:
        """Resolutions must be positive multiples of this."""
        ...

    def encode_prompts(self, prompts: list[str]) -> np.ndarray:
        """Conditioning for each prompt: float32 (B, ...), one row per prompt, safe to lerp between rows."""
        ...

    def generate(
        self,
        cond: np.ndarray,
        resolution: int,
        steps: int,
        generators: list[torch.Generator],
        init: np.ndarray | None = None,
        strength: np.ndarray | None = None,
    ) -> np.ndarray:
        """One frame per row of `cond` as uint8 (B, R, R, 3), all in one batched pass per denoising step.

        `init` (uint8 (B, R, R, 3) or None) are the previous frames for img2img; `strength` (B,) in [0, 1]
        says how far each item is re-noised (1.0 or no init = text-to-image from pure noise). Item i's noise
        comes only from generators[i].
        """
        ...


class GeneratorLoadError(ValueError):
    """A checkpoint path is missing or does not hold weights for this generator configuration."""


class GeneratorConfig(BaseModel):
    """How to build the embedded generator. Part of the season config (`generator:`)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["embedded"] = "embedded"
    checkpoint: str | None = None  # safetensors file; None = untrained random init seeded by init_seed
    init_seed: int = 0
    block_out_channels: list[int] = Field(default_factory=lambda: [32, 64, 64])
    layers_per_block: int = Field(1, ge=1, le=4)
    scheduler: Literal["ddim", "euler"] = "ddim"
    # What the UNet predicts; the trainer (media.train_base) must train with the same choice. v-prediction by
    # default because frames are sampled in 1-4 steps from t=999: an epsilon model's x0 estimate there divides
    # its error by sqrt(alpha_bar_999) ~ 0.006 (a 150x blow-up; untrained it gives saturated noise).
    prediction_type: Literal["epsilon", "v_prediction", "sample"] = "v_prediction"


def build_unet(config: GeneratorConfig):
    """The UNet architecture for a config (shared by the sampler and the trainer)."""
    from diffusers import UNet2DConditionModel

    n = len(config.block_out_channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
    up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
    return UNet2DConditionModel(
        sample_size=64,
        in_channels=3,
        out_channels=3,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        cross_attention_dim=EMBED_DIM,
        norm_num_groups=16,
        attention_head_dim=8,
    )


def build_scheduler(config: GeneratorConfig):
    """A fresh scheduler. "trailing" spacing so that 1 step starts from pure noise (t=999), as SD-Turbo does."""
    from diffusers import DDIMScheduler, EulerDiscreteScheduler

    common = dict(num_train_timesteps=1000, prediction_type=config.prediction_type, timestep_spacing="trailing")
    if config.scheduler == "euler":
        with warnings.catch_warnings():  # diffusers' own numpy-2 DeprecationWarning, harmless
            warnings.simplefilter("ignore", DeprecationWarning)
            return EulerDiscreteScheduler(**common)
    return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)


class TinyDiffusionGenerator:
    """Batched text-to-image sampling with the tiny UNet. Thread-safe: one sampling loop at a time."""

    def __init__(
        self, config: GeneratorConfig | None = None, embedder: Embedder | None = None, device: str = "cpu"
    ) -> None:
        self.config = config or GeneratorConfig()
        self.embedder = embedder  # only used by encode_prompts()
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.init_seed)
            self.unet = build_unet(self.config)
        self.unet.to(self.device).eval().requires_grad_(False)
        self.scheduler = build_scheduler(self.config)
        self._lock = threading.Lock()
        if self.config.checkpoint is not None:
            self.load_checkpoint(self.config.checkpoint)

    @property
    def downscale(self) -> int:
        """Resolutions must be multiples of this (each down block but the last halves the image)."""
        return 2 ** (len(self.config.block_out_channels) - 1)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load UNet weights from a safetensors file; any failure is one GeneratorLoadError naming the path."""
        from safetensors.torch import load_file

        p = Path(path)
        if not p.is_file():
            raise GeneratorLoadError(f"generator checkpoint not found: {p}")
        try:
            state = load_file(str(p), device=str(self.device))
            self.unet.load_state_dict(state, strict=True)
        except Exception as exc:  # safetensors/torch raise many types; the user needs one clear line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GeneratorLoadError(f"cannot load generator checkpoint {p}: {first[:300]}") from exc

    def save_checkpoint(self, path: str | Path) -> None:
        """Write the UNet weights (and the config as metadata) to a safetensors file."""
        from safetensors.torch import save_file

        arch = self.config.model_dump(exclude={"checkpoint"})
        state = {k: v.detach().contiguous().cpu() for k, v in self.unet.state_dict().items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(path), metadata={"generator_config": json.dumps(arch)})

    def encode_prompts(self, prompts: list[str]) -> np.ndarray:
        """Conditioning = pooled MiniLM embeddings (B, 384) through the attached embedder."""
        if self.embedder is None:
            raise RuntimeError("this generator has no text embedder attached")
        return np.asarray(self.embedder.embed(prompts), dtype=np.float32)

    def unet_forward(self, x: torch.Tensor, t: torch.Tensor | int, emb: torch.Tensor) -> torch.Tensor:
        """One raw UNet evaluation: x (B,3,R,R), timestep, emb (B,384) -> model output (B,3,R,R)."""
        return self.unet(x, t, encoder_hidden_states=emb.unsqueeze(1)).sample

    def generate(
        self,
        embeddings: np.ndarray,
        resolution: int,
        steps: int,
        generators: list[torch.Generator],
    ) -> np.ndarray:
        """Sample one image per row of `embeddings`; returns uint8 (B, R, R, 3).

        Each item's initial noise comes from its own generator (advancing it), so the same generator state
        and prompt give the same image whatever else is in the batch. One UNet forward per step for all.
        """
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[1] != EMBED_DIM:
            raise ValueError(f"embeddings must have shape (B, {EMBED_DIM}), got {emb.shape}")
        if len(generators) != emb.shape[0]:
            raise ValueError(f"need one torch.Generator per item: {len(generators)} for {emb.shape[0]} items")
        if resolution <= 0 or resolution % self.downscale:
            raise ValueError(f"resolution must be a positive multiple of {self.downscale}, got {resolution}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if emb.shape[0] == 0:
            return np.zeros((0, resolution, resolution, 3), dtype=np.uint8)
        shape = (3, resolution, resolution)
        noise = torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators])
        with self._lock, torch.inference_mode():
            cond = torch.from_numpy(emb).to(self.device)
            sched = self.scheduler
            with warnings.catch_warnings():  # diffusers' own numpy-2 DeprecationWarning (Euler), harmless
                warnings.simplefilter("ignore", DeprecationWarning)
                sched.set_timesteps(steps, device=self.device)
            x = noise.to(self.device) * sched.init_noise_sigma
            for t in sched.timesteps:
                model_in = sched.scale_model_input(x, t)
                out = self.unet_forward(model_in, t, cond)
                x = sched.step(out, t, x).prev_sample
            img = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return img.permute(0, 2, 3, 1).cpu().numpy()
