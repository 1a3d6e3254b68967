"""Loading a Stable Diffusion model for media.diffusers_generator: sources, caches, one-line errors.

Why apart from the sampler: loading happens once, before a season exists, and is all about where the files
come from (a local folder, the Hugging Face cache, the hub unless offline) and turning every failure (hub id not
in the cache while offline, missing folder, wrong files, unsupported architecture) into one GeneratorLoadError
line, which `arena.world.build_world` turns into `field 'generator.model': ...` and exit status 2.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from media.generator import GeneratorLoadError

if TYPE_CHECKING:
    from media.diffusers_generator import DiffusersGeneratorConfig

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _looks_like_path(name: str) -> bool:
    """A hub id is `name` or `owner/name`; anything else (absolute, ./, ~, deeper) is meant as a folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[name]


def check_path(what: str, source: str) -> None:
    """A source that is meant as a folder must be one (a LoRA may be one .safetensors file); a hub id passes."""
    path = Path(source).expanduser()
    if path.is_dir() or (what == "LoRA" and path.is_file()):
        return
    if path.exists():
        raise GeneratorLoadError(f"{what} {source!r}: expected a diffusers folder, found a file")
    if _looks_like_path(source):
        raise GeneratorLoadError(f"{what} {source!r}: no such folder")


def load(what: str, source: str, loader, *, local_only: bool) -> Any:
    """Call `loader(source, local_files_only=...)`: a local folder directly; a hub id from the cache first (no
    network when it is there), then online unless offline. Any failure is one GeneratorLoadError line."""
    with warnings.catch_warnings():  # hub-client deprecation chatter (local_dir_use_symlinks...), not user errors
        warnings.simplefilter("ignore")
        return _load_quietly(what, source, loader, local_only=local_only)


def _load_quietly(what: str, source: str, loader, *, local_only: bool) -> Any:
    path = Path(source).expanduser()
    if path.is_dir() or (what == "LoRA" and path.is_file()):
        try:
            return loader(str(path), local_files_only=True)
        except Exception as exc:  # diffusers/transformers/safetensors raise many types
            raise GeneratorLoadError(f"cannot load {what} from {path}: {_first_line(exc)}") from exc
    check_path(what, source)
    try:
        return loader(source, local_files_only=True)
    except Exception as cached_exc:
        if local_only:
            raise GeneratorLoadError(
                f"cannot load {what} {source!r}: not a local folder and not in the Hugging Face cache "
                f"(offline; download it once with `hf download {source}`): {_first_line(cached_exc)}"
            ) from cached_exc
    try:
        return loader(source, local_files_only=False)
    except Exception as exc:
        raise GeneratorLoadError(f"cannot load {what} {source!r} from the hub: {_first_line(exc)}") from exc


@contextlib.contextmanager
def quiet_diffusers():
    """Loading chatter (progress bars, "expected types for vae" when TAESD replaces the VAE) off; errors stay."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    libs = (dlog, tlog)
    before = [(lib.get_verbosity(), lib.is_progress_bar_enabled()) for lib in libs]
    for lib in libs:
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, (level, bar) in zip(libs, before):
            lib.set_verbosity(level)
            lib.enable_progress_bar() if bar else lib.disable_progress_bar()


def place(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move to the device; cast only when needed (diffusers warns on a redundant dtype cast)."""
    module = module.to(device)
    if next(module.parameters()).dtype != dtype:
        module = module.to(dtype)
    return module.eval().requires_grad_(False)


def load_components(config: DiffusersGeneratorConfig, dtype: torch.dtype, local_only: bool) -> dict[str, Any]:
    """Load the pipeline (plus tiny VAE and fused LoRA) and keep only the parts the sampler uses."""
    for what, source in (("diffusers model", config.model), ("tiny VAE", config.tiny_vae), ("LoRA", config.lora)):
        if source is not None:
            check_path(what, source)  # a mistyped folder fails at once, before the heavy imports
    with quiet_diffusers():  # importing the pipelines logs torchvision/image-processor notices
        from diffusers import AutoencoderTiny, StableDiffusionPipeline

    extra: dict[str, Any] = {}
    if config.tiny_vae is not None:
        extra["vae"] = load(
            "tiny VAE",
            config.tiny_vae,
            lambda src, **kw: AutoencoderTiny.from_pretrained(src, torch_dtype=dtype, **kw),
            local_only=local_only,
        )

    def load_pipe(src: str, **kw: Any):
        with warnings.catch_warnings():  # safety-checker and deprecation chatter; frames are not filtered
            warnings.simplefilter("ignore")
            return StableDiffusionPipeline.from_pretrained(
                src,
                torch_dtype=dtype,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                **extra,
                **kw,
            )

    with quiet_diffusers():
        pipe = load("diffusers model", config.model, load_pipe, local_only=local_only)
    if config.lora is not None:

        def load_lora(src: str, **kw: Any):
            pipe.load_lora_weights(src, **kw)
            pipe.fuse_lora()  # merged into the UNet weights: no adapter overhead per step
            pipe.unload_lora_weights()  # drops the adapter layers, keeps the fused weights
            return pipe

        with quiet_diffusers():
            load("LoRA", config.lora, load_lora, local_only=local_only)
    return dict(
        unet=pipe.unet,
        vae=pipe.vae,
        text_encoder=pipe.text_encoder,
        tokenizer=pipe.tokenizer,
        scheduler_config=dict(pipe.scheduler.config),
    )


def check_components(unet, vae, text_encoder) -> int:
    """The parts must fit together as an SD-1.x/2.x text-to-image model; returns the latent channels."""
    from diffusers import AutoencoderKL, AutoencoderTiny

    if not isinstance(vae, (AutoencoderKL, AutoencoderTiny)):
        raise GeneratorLoadError(f"unsupported VAE class {type(vae).__name__} (need AutoencoderKL or AutoencoderTiny)")
    latent_channels = int(vae.config.latent_channels)
    if unet.config.in_channels != latent_channels or unet.config.out_channels != latent_channels:
        raise GeneratorLoadError(
            f"UNet takes {unet.config.in_channels} channels but the VAE makes {latent_channels} "
            "(inpainting/depth models are not supported)"
        )
    if getattr(unet.config, "addition_embed_type", None) is not None:
        raise GeneratorLoadError("UNet needs added conditioning (SDXL-style); only SD 1.x/2.x models are supported")
    if text_encoder is not None and text_encoder.config.hidden_size != unet.config.cross_attention_dim:
        raise GeneratorLoadError(
            f"text encoder width {text_encoder.config.hidden_size} != UNet cross_attention_dim "
            f"{unet.config.cross_attention_dim}"
        )
    return latent_channels
