"""The embedded generator: a tiny text-conditioned pixel-space diffusion model (diffusers UNet + scheduler).

Why this shape: it must run on a 2-core CPU with no download, so the UNet works directly on RGB pixels (no
VAE; with `space_to_depth: 2` on the exactly invertible 2x2 pixel-unshuffle of them, media.pixel_unshuffle) and is
conditioned on the pooled all-MiniLM-L6-v2 embedding of the prompt, projected and added to the timestep
embedding every ResNet block reads (no attention). The default configuration ("base": [16, 32, 32, 64] channels
on the 2x2 space-to-depth view, per-position normalisation, trained by media.train_base on a GPU and distilled
for one-step variety; media/checkpoints/base.json) does about 75 frames/s at 128x128, 1 step, batch 8 on the
project's 2-core machines, and 57 through the engine for 6 streams (bench/media.py; docs/facts.md). The former
base (cross-attention, GroupNorm, [16, 32, 32]) is kept as media/checkpoints/base_groupnorm.safetensors.

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

from common.errors import first_line
from media.embedding import Embedder
from media.pixel_unshuffle import from_latent, to_latent

EMBED_DIM = 384
PACKAGED_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


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
    # A safetensors file, or "base" = the packaged model trained by `python -m media.train_base`
    # (media/checkpoints/base.safetensors); None = untrained random init seeded by init_seed.
    checkpoint: str | None = "base"
    init_seed: int = 0
    block_out_channels: list[int] = Field(default_factory=lambda: [16, 32, 32, 64])  # the packaged base model's:
    # a fourth level (8x8 at 128 px) gives the picture its layout at almost no cost: 65 frames/s at 128 px, batch 6
    # on 2 cores, the same as [16, 32, 32] with 2.5x the parameters (issue 18)
    layers_per_block: int = Field(1, ge=1, le=4)
    scheduler: Literal["ddim", "euler"] = "ddim"
    # What the UNet predicts; the trainer (media.train_base) must train with the same choice. v-prediction by
    # default because frames are sampled in 1-4 steps from t=999: an epsilon model's x0 estimate there divides
    # its error by sqrt(alpha_bar_999) ~ 0.006 (a 150x blow-up; untrained it gives saturated noise).
    prediction_type: Literal["epsilon", "v_prediction", "sample"] = "v_prediction"
    # The UNet works on 2x2 pixel blocks folded into channels (64x64x3 -> 32x32x12; media.pixel_unshuffle): about 3x
    # the frames/s of plain pixels at equal quality (bench/base_model_choice.json). 1 = plain pixels.
    space_to_depth: Literal[1, 2] = 2
    # How the prompt reaches the UNet. "cross_attention" (the packaged base): transformer blocks whose
    # cross-attention sees the embedding as one token (a softmax over one key: only a bias) next to spatial
    # self-attention. "embedding" (ADM-style class conditioning): the embedding is projected and added to the
    # timestep embedding every ResNet block reads; no attention, 4.4x the frames/s at 128 px (docs/facts.md).
    text_conditioning: Literal["cross_attention", "embedding"] = "embedding"
    # The normalisation inside every ResNet block. "group" (diffusers' GroupNorm, the packaged base) normalises
    # over the whole image, and the trained base learned to put one huge activation at a fixed cell of its up
    # path (~500x the median at 32x32 cell (4, 12)) that dominates those statistics: StyleGAN2's "droplet"
    # artifact (Karras et al. 2020), the blob at row 9, column 24 of every 64 px frame (issue 18). "position"
    # normalises each pixel's channels on their own (media.position_norm), which removes that lever: the packaged
    # base uses it (media/checkpoints/base.json); base_groupnorm.safetensors is the former one, blob included.
    norm: Literal["group", "position"] = "position"
    # How the UNet runs on a CPU (bench/generator_cpu.py measures each; a GPU ignores this). A path becomes the
    # default only if it wins and its frames stay within CPU_PATH_TOLERANCE of fp32 eager, so seasons replay
    # the same. Measured (docs/facts.md, issue 18): "onnx" (the UNet exported in memory to ONNX Runtime,
    # media.onnx_unet) ran the attention-free base 2-6x faster than eager with outputs within ~1e-6, so it is the
    # default; channels_last stays within 1 grey level but did not win reliably; bf16 autocast was ~1.6x at
    # 128 px on an avx512_bf16 CPU but moves pixels by up to ~10 levels; torch.compile took 344 s to compile.
    cpu_path: Literal["onnx", "eager", "channels_last", "bf16"] = "onnx"


CPU_PATH_TOLERANCE = 1  # grey levels (of 255) a default CPU path may differ from fp32 eager, per pixel


def build_unet(config: GeneratorConfig):
    """The UNet architecture for a config (shared by the sampler and the trainer)."""
    from diffusers import UNet2DConditionModel

    from media.pixel_unshuffle import latent_channels

    n = len(config.block_out_channels)
    channels = latent_channels(config.space_to_depth)
    common = dict(
        sample_size=64 // config.space_to_depth,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        cross_attention_dim=EMBED_DIM,
        norm_num_groups=16,
        attention_head_dim=8,
    )
    if config.text_conditioning == "embedding":
        unet = UNet2DConditionModel(
            down_block_types=("DownBlock2D",) * n,
            up_block_types=("UpBlock2D",) * n,
            mid_block_type="UNetMidBlock2D",  # one ResNet, no attention
            class_embed_type="projection",
            projection_class_embeddings_input_dim=EMBED_DIM,
            **common,
        )
    else:
        down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
        up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
        unet = UNet2DConditionModel(down_block_types=down, up_block_types=up, **common)
    if config.norm == "position":
        from media.position_norm import use_position_norm

        use_position_norm(unet)
    return unet


def call_unet(unet: torch.nn.Module, x: torch.Tensor, t: torch.Tensor | int, emb: torch.Tensor) -> torch.Tensor:
    """One UNet evaluation for prompt embeddings emb (B, 384), whichever `text_conditioning` built it.

    Both routes get the embedding: a one-token sequence for cross-attention, `class_labels` for the projected
    embedding (each architecture ignores the other). The sampler, the base trainer and finetuning all call this.
    """
    return unet(x, t, encoder_hidden_states=emb.unsqueeze(1), class_labels=emb).sample


def resolve_checkpoint(name: str | Path) -> Path:
    """A checkpoint setting as a path: "base" = the packaged media/checkpoints/base.safetensors, else a path."""
    return PACKAGED_CHECKPOINTS / "base.safetensors" if str(name) == "base" else Path(name)


_ARCH_FIELDS = (
    "block_out_channels",
    "layers_per_block",
    "space_to_depth",
    "prediction_type",
    "text_conditioning",
    "norm",
)


def _check_arch(path: Path, meta: str | None, config: GeneratorConfig) -> None:
    """One clear line when a checkpoint was trained for another architecture (no metadata: let torch judge)."""
    if not meta:
        return
    try:
        saved = json.loads(meta)
    except ValueError:
        return
    saved.setdefault("space_to_depth", 1)  # checkpoints written before the option existed
    saved.setdefault("text_conditioning", "cross_attention")  # ... and before issue 18
    saved.setdefault("norm", "group")
    want = config.model_dump()
    diff = [f"{k}={saved[k]!r} (config: {want[k]!r})" for k in _ARCH_FIELDS if k in saved and saved[k] != want[k]]
    if diff:
        raise GeneratorLoadError(f"generator checkpoint {path} was trained with " + ", ".join(diff))


def config_for_checkpoint(name: str | Path) -> GeneratorConfig:
    """The GeneratorConfig a checkpoint was trained with (from its metadata), pointing at it: lets a bench
    or a comparison load a base of another architecture (e.g. the pre-issue-18 cross-attention one)."""
    from safetensors import safe_open

    p = resolve_checkpoint(name)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = (f.metadata() or {}).get("generator_config")
        saved = json.loads(meta) if meta else {}
    except Exception as exc:
        raise GeneratorLoadError(f"cannot read generator checkpoint {p}: {exc}") from exc
    saved.setdefault("space_to_depth", 1)
    saved.setdefault("text_conditioning", "cross_attention")
    saved.setdefault("norm", "group")
    # the architecture only: the init seed of the run that wrote it and the CPU path do not describe the weights
    known = {k: v for k, v in saved.items() if k in _ARCH_FIELDS}
    return GeneratorConfig(**known, checkpoint=str(name))


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
        self._onnx = None  # media.onnx_unet.OnnxUNet, made on first use when cpu_path is "onnx"
        if self.config.checkpoint is not None:
            self.load_checkpoint(self.config.checkpoint)

    @property
    def downscale(self) -> int:
        """Resolutions must be multiples of this (space-to-depth, then each down block but the last halves)."""
        return self.config.space_to_depth * 2 ** (len(self.config.block_out_channels) - 1)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load UNet weights from a safetensors file ("base" = the packaged one); any failure is one
        GeneratorLoadError naming the path, including a checkpoint trained for another architecture."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        p = resolve_checkpoint(path)
        if not p.is_file():
            raise GeneratorLoadError(f"generator checkpoint not found: {p}")
        try:
            with safe_open(str(p), framework="pt") as f:
                meta = (f.metadata() or {}).get("generator_config")
        except Exception as exc:
            raise GeneratorLoadError(f"cannot load generator checkpoint {p}: not a safetensors file ({exc})") from exc
        _check_arch(p, meta, self.config)
        try:
            state = load_file(str(p), device=str(self.device))
            self.unet.load_state_dict(state, strict=True)
        except Exception as exc:  # safetensors/torch raise many types; the user needs one clear line
            raise GeneratorLoadError(f"cannot load generator checkpoint {p}: {first_line(exc)}") from exc

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
        """One raw UNet evaluation in model space (media.pixel_unshuffle: (B, 3 f^2, R/f, R/f)), timestep, emb (B,384)."""
        path = self.config.cpu_path if self.device.type == "cpu" else "eager"
        if path == "onnx":
            if self._onnx is None:
                from media.onnx_unet import OnnxUNet

                self._onnx = OnnxUNet()
            return self._onnx(self.unet, x, t, emb)
        if path == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return call_unet(self.unet, x, t, emb).float()
        if path == "channels_last":  # the input only: the weights (and every state dict) keep their layout
            x = x.contiguous(memory_format=torch.channels_last)
        return call_unet(self.unet, x, t, emb)

    def generate(
        self,
        cond: np.ndarray,
        resolution: int,
        steps: int,
        generators: list[torch.Generator],
        init: np.ndarray | None = None,
        strength: np.ndarray | None = None,
    ) -> np.ndarray:
        """Sample one image per row of `cond`; returns uint8 (B, R, R, 3). Text-to-image or per-item img2img.

        Each item's noise is ONE draw from its own generator (whatever its strength, so a stream's random
        sequence does not depend on its knob), so the same generator state, prompt and init give the same
        image whatever else is in the batch. One UNet forward per step for all items, with per-item timesteps.

        img2img is SDEdit (Meng et al. 2022): item i's schedule is the trailing schedule compressed into
        [0, strength_i * T) (see `strength_timesteps`); its init is noised to the first of those timesteps with
        the forward process (the scheduler's alphas_cumprod, as DDPM/DDIM add_noise does), then `steps`
        deterministic DDIM updates (eta 0) follow. strength 1 or no init starts from pure noise exactly like
        text-to-image; strength 0 returns the init unchanged.
        """
        emb = np.asarray(cond, dtype=np.float32)
        b = self._check_request(emb, resolution, steps, generators)
        strength_arr = _check_img2img(init, strength, b, resolution)
        if b == 0:
            return np.zeros((0, resolution, resolution, 3), dtype=np.uint8)
        # 1. timesteps per item, 2. each item's one noise draw (before the lock, in batch order)
        n_train = int(self.scheduler.config.num_train_timesteps)
        ts = torch.from_numpy(strength_timesteps(strength_arr, steps, n_train)).to(self.device)  # (B, steps)
        shape = (3, resolution, resolution)
        noise = torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators])
        f = self.config.space_to_depth  # the UNet's space is the exact pixel-unshuffle (media.pixel_unshuffle)
        noise = to_latent(noise, f)
        with self._lock, torch.inference_mode():
            c = torch.from_numpy(emb).to(self.device)
            x, x0_init = self._prepare_latents(noise, init, strength_arr, ts)  # 3.
            x = self._denoise(x, ts, c, steps)  # 4.
            if init is not None:  # strength 0 returns the init unchanged
                keep = torch.from_numpy(strength_arr <= 0.0).to(self.device).view(b, 1, 1, 1)
                x = torch.where(keep, x0_init, x)
            img = ((from_latent(x, f).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # 5. decode
        return img.permute(0, 2, 3, 1).cpu().numpy()

    def sample_latents(self, x: torch.Tensor, emb: torch.Tensor, steps: int) -> torch.Tensor:
        """Text-to-image in model space from start latents x (the trailing schedule from t=999): the
        x0 that `generate` would decode. The base trainer's distillation teacher (media.train_base)."""
        b = x.shape[0]
        n_train = int(self.scheduler.config.num_train_timesteps)
        ts = torch.from_numpy(strength_timesteps(np.ones(b), steps, n_train)).to(self.device)
        with self._lock, torch.inference_mode():
            return self._denoise(x.to(self.device), ts, emb.to(self.device), steps)

    def _check_request(self, emb: np.ndarray, resolution: int, steps: int, generators: list[torch.Generator]) -> int:
        """Validate the conditioning, resolution and steps; returns the batch size."""
        if emb.ndim != 2 or emb.shape[1] != EMBED_DIM:
            raise ValueError(f"cond (prompt embeddings) must have shape (B, {EMBED_DIM}), got {emb.shape}")
        b = emb.shape[0]
        if len(generators) != b:
            raise ValueError(f"need one torch.Generator per item: {len(generators)} for {b} items")
        if resolution <= 0 or resolution % self.downscale:
            raise ValueError(f"resolution must be a positive multiple of {self.downscale}, got {resolution}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        return b

    def _prepare_latents(
        self, noise: torch.Tensor, init: np.ndarray | None, strength_arr: np.ndarray, ts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The start latents: pure noise (the txt2img start; DDIM's init_noise_sigma is 1), or for items with
        strength < 1 their init noised to their first timestep. Also returns the init in model space."""
        f = self.config.space_to_depth
        x = noise.to(self.device)
        if init is None:
            return x, None
        b = x.shape[0]
        x0_init = torch.from_numpy(np.ascontiguousarray(init)).to(self.device).permute(0, 3, 1, 2).contiguous()
        x0_init = to_latent(x0_init.to(torch.float32) / 127.5 - 1.0, f)
        partial = torch.from_numpy(strength_arr < 1.0).to(self.device).view(b, 1, 1, 1)
        a0 = _gather(self._alphas, ts[:, 0])
        return torch.where(partial, a0.sqrt() * x0_init + (1 - a0).sqrt() * x, x), x0_init

    def _denoise(self, x: torch.Tensor, ts: torch.Tensor, c: torch.Tensor, steps: int) -> torch.Tensor:
        """`steps` deterministic DDIM updates (eta 0), one batched UNet forward each, per-item timesteps."""
        b = x.shape[0]
        prev = torch.cat([ts[:, 1:], torch.full((b, 1), -1, dtype=ts.dtype, device=ts.device)], dim=1)
        for k in range(steps):
            a_t = _gather(self._alphas, ts[:, k])
            a_prev = _gather(self._alphas, prev[:, k])  # index -1 = the final alpha 1 (see _alphas)
            out = self.unet_forward(x, ts[:, k], c)
            x0, eps = _x0_eps(self.config.prediction_type, out, x, a_t)
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        return x

    @property
    def _alphas(self) -> torch.Tensor:
        """alphas_cumprod of the training schedule with 1.0 appended, so index -1 is "fully denoised".

        1.0 is DDIM's final alpha with set_alpha_to_one and Euler's final sigma 0: both end on the x0 estimate.
        """
        cached = getattr(self, "_alphas_cache", None)
        if cached is None or cached.device != self.device:
            ac = self.scheduler.alphas_cumprod.to(torch.float32)
            cached = torch.cat([ac, torch.ones(1, dtype=ac.dtype)]).to(self.device)
            self._alphas_cache = cached
        return cached


def strength_timesteps(strength: np.ndarray, steps: int, num_train_timesteps: int = 1000) -> np.ndarray:
    """Per-item DDIM timesteps (B, steps), int64: the "trailing" schedule scaled into [0, strength * T).

    With strength 1 this is exactly diffusers' trailing schedule (round(T - k T/steps) - 1: 1 step = t 999),
    so text-to-image is unchanged. A strength s starts at round(s T) - 1 and keeps `steps` evenly spaced
    evaluations below it: the number of UNet calls (the cost) does not depend on s, only how much of the
    init survives. This is StreamDiffusion's img2img (a longer trailing schedule of which only the last
    `steps` entries run) without rounding s to a multiple of 1/steps. Timesteps are clipped at 0.
    """
    s = np.asarray(strength, dtype=np.float64)
    span = s * num_train_timesteps
    k = np.arange(steps, dtype=np.float64)
    delta = (span - span / steps) - span  # as numpy's arange(span, 0, -span/steps) steps, to the last bit
    t = np.round(span[:, None] + k[None, :] * delta[:, None]).astype(np.int64) - 1
    return np.clip(t, 0, num_train_timesteps - 1)


def _gather(alphas: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """alphas[t] shaped (B, 1, 1, 1) for broadcasting over images."""
    return alphas[t].view(-1, 1, 1, 1)


def _x0_eps(prediction_type: str, out: torch.Tensor, x: torch.Tensor, a: torch.Tensor):
    """The model's clean-image and noise estimates at x_t = sqrt(a) x0 + sqrt(1-a) eps (DDIM, Song et al.)."""
    sa, sb = a.sqrt(), (1 - a).sqrt()
    if prediction_type == "v_prediction":  # v = sqrt(a) eps - sqrt(1-a) x0 (Salimans & Ho 2022)
        return sa * x - sb * out, sa * out + sb * x
    if prediction_type == "epsilon":
        return (x - sb * out) / sa, out
    return out, (x - sa * out) / sb  # "sample"


def _check_img2img(init, strength, batch: int, resolution: int) -> np.ndarray:
    """Validate init/strength; returns the (B,) float64 strengths (all 1.0 = text-to-image)."""
    if init is None:
        if strength is not None:
            raise ValueError("strength was given without init frames (img2img needs both)")
        return np.ones(batch, dtype=np.float64)
    arr = np.asarray(init)
    want = (batch, resolution, resolution, 3)
    if arr.dtype != np.uint8 or arr.shape != want:
        raise ValueError(f"init must be uint8 frames of shape {want}, got {arr.dtype} {arr.shape}")
    if strength is None:
        raise ValueError("init frames were given without strength (one value in [0, 1] per item)")
    s = np.asarray(strength, dtype=np.float64)
    if s.shape != (batch,) or not np.all(np.isfinite(s)) or s.min(initial=0.0) < 0 or s.max(initial=0.0) > 1:
        raise ValueError(f"strength must be {batch} finite values in [0, 1], got {np.asarray(strength).tolist()}")
    return s
