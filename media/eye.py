"""The audience's eye: stream frames mapped into the text space of viewers' interests, prompts and trends.

Why an eye: viewers judge what they see, not what a streamer wrote. If the audience compared a stream's
prompt text with its interests, a streamer could win by typing the bare topic label whatever the generator
drew; with an eye the audience scores pixels, so only frames that look like the topic earn its viewers.

The scheme is LiT (Zhai et al. 2022, "LiT: Zero-Shot Transfer with Locked-image text Tuning",
arXiv:2111.07991) turned around: LiT locks a pretrained image tower and tunes the text tower; here the TEXT
tower is locked (the frozen all-MiniLM-L6-v2 of media.embedding, the space the audience's topics, the
streams' prompts and the trend feed already live in) and only a small CNN image tower is trained, with an
image->text contrastive loss (a learnable temperature) against captions of the project's own scenes. The
training frames are rendered by the project (media.sources scenes, frames of the packaged base generator,
degraded copies of both), so nothing is downloaded; see media.train_eye for the recipe.

Retrain (the packaged weights: 4612 steps in 17 minutes on one busy CPU thread; the exact command and the
measured figures are in media/checkpoints/eye.json; --state/--resume continue a stopped run):

    python -m media.train_eye --steps 5000 --batch 64 --seed 0 --max-minutes 17

and measure with `python -m bench.eye` (`--record` writes the figures into media/checkpoints/eye.json).

A CLIP id (`eye: {kind: clip, model: openai/clip-vit-base-patch32}`) swaps BOTH towers for that CLIP's image
and text towers: frames and texts then share CLIP's space (512-d for ViT-B/32) instead of MiniLM's, so
everything the audience compares must come from the same eye's `embed_texts`, never from media.embedding.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from common.errors import FieldError

DIM = 384  # all-MiniLM-L6-v2's sentence embedding size
INPUT_SIZE = 64  # every frame is resized to this square before the image tower
DEFAULT_CHANNELS = (24, 48, 96, 128, 160)
PACKAGED_EYE = Path(__file__).resolve().parent / "checkpoints" / "eye.safetensors"


class Eye(Protocol):
    """What the audience needs: frames and texts as unit vectors in one space (cosine = dot product)."""

    dim: int

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) frames -> float32 (N, dim) unit vectors; deterministic."""
        ...

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 (N, dim) unit vectors in the frames' space."""
        ...


class EyeLoadError(FieldError, ValueError):
    """The eye's weights or model could not be found or loaded: one line naming the field and the path."""


class EyeConfig(BaseModel):
    """Which eye the audience looks with. `embedded`: the packaged CNN + MiniLM (offline); `clip`: a CLIP."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["embedded", "clip"] = "embedded"
    # clip: a Hugging Face id or a local folder (needs internet or a cached copy for an id)
    model: str | None = None
    # embedded: a safetensors file written by media.train_eye; None = the packaged eye.safetensors
    checkpoint: str | None = None


class ImageTower(nn.Module):
    """Conv blocks (BatchNorm, GELU; stride 2 but the last) -> [avg, max] pool -> linear to the text space.

    Why avg AND max pooling: a scene's identity is partly its overall colour (avg) and partly small bright
    things (fireworks bursts, stars, car lights) that an average washes out (max).
    """

    def __init__(self, channels: tuple[int, ...] = DEFAULT_CHANNELS, dim: int = DIM) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(channels):
            stride = 1 if i == len(channels) - 1 else 2  # 64 -> 32 -> 16 -> 8 -> 4, then 4x4
            layers += [nn.Conv2d(c_in, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.GELU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(2 * c_in, dim)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (B, 3, 64, 64) in [0, 1] -> unnormalised (B, dim)."""
        h = self.features((x - self.mean) / self.std)
        return self.proj(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))


def frames_to_tensor(frames: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, size, size) in [0, 1], resized with antialiasing (any H, W)."""
    a = np.asarray(frames)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (N, H, W, 3), got {a.dtype} {a.shape}")
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (size, size) and len(x):
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0.0, 1.0)


def _unit(x: torch.Tensor) -> np.ndarray:
    return nn.functional.normalize(x.float(), dim=-1).cpu().numpy().astype(np.float32, copy=False)


def load_tower(path: str | Path) -> tuple[ImageTower, float, dict]:
    """An ImageTower from a media.train_eye safetensors file (fp16 on disk, fp32 here), its logit scale, its architecture."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise EyeLoadError("eye.checkpoint", f"eye checkpoint not found: {p}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("eye_config", "{}"))
        state = load_file(str(p))
        scale = min(100.0, float(state.pop("logit_scale", torch.tensor(np.log(1 / 0.07))).float().exp()))
        tower = ImageTower(tuple(meta.get("channels", DEFAULT_CHANNELS)), int(meta.get("dim", DIM)))
        tower.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except Exception as exc:  # safetensors/torch/json raise many types; the user needs one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EyeLoadError("eye.checkpoint", f"cannot load eye checkpoint {p}: {first[:300]}") from exc
    return tower.eval().requires_grad_(False), scale, meta


class EmbeddedEye:
    """The packaged eye: the trained CNN image tower for frames, the frozen MiniLM for texts (both 384-d)."""

    dim: int = DIM

    def __init__(self, checkpoint: str | Path | None = None, text_embedder=None, batch_size: int = 64) -> None:
        self.checkpoint = Path(checkpoint) if checkpoint is not None else PACKAGED_EYE
        self.tower, self.logit_scale, self.arch = load_tower(self.checkpoint)
        self.dim = self.tower.proj.out_features
        self.batch_size = batch_size
        self._text = text_embedder  # media.embedding.Embedder; None = the process-wide MiniLM, loaded lazily

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """Unit vectors of frames, in chunks of `batch_size` (the same vector whatever the chunk, to float atol)."""
        x = frames_to_tensor(frames)
        if not len(x):
            return np.zeros((0, self.dim), np.float32)
        with torch.no_grad():
            return np.concatenate(
                [_unit(self.tower(x[i : i + self.batch_size])) for i in range(0, len(x), self.batch_size)]
            )

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """MiniLM sentence embeddings (cached per text by media.embedding)."""
        if self._text is None:
            from media.embedding import get_text_embedder

            self._text = get_text_embedder()
        return np.asarray(self._text.embed(list(texts)), np.float32)


class ClipEye:
    """A Hugging Face CLIP: its image tower for frames, its text tower for texts (projection_dim-d)."""

    def __init__(self, model_id_or_path: str, device: str = "cpu") -> None:
        from transformers import CLIPModel, CLIPProcessor
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if not model_id_or_path or not str(model_id_or_path).strip():
            raise EyeLoadError("eye.model", "a clip eye needs `model`: a Hugging Face id or a local folder")
        try:
            self.model = CLIPModel.from_pretrained(model_id_or_path).to(device).eval().requires_grad_(False)
            self.processor = CLIPProcessor.from_pretrained(model_id_or_path)
        except Exception as exc:  # missing folder, no network, not a CLIP: one line for the user
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EyeLoadError("eye.model", f"cannot load CLIP {model_id_or_path!r}: {first[:300]}") from exc
        self.device = device
        self.dim = int(self.model.config.projection_dim)
        self.logit_scale = float(self.model.logit_scale.exp())

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        a = np.asarray(frames)
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 (N, H, W, 3), got {a.dtype} {a.shape}")
        if not len(a):
            return np.zeros((0, self.dim), np.float32)
        out = []
        with torch.no_grad():
            for i in range(0, len(a), 32):
                pix = self.processor(images=list(a[i : i + 32]), return_tensors="pt")["pixel_values"]
                out.append(_unit(_features(self.model.get_image_features(pixel_values=pix.to(self.device)))))
        return np.concatenate(out)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tok = self.processor.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            feats = self.model.get_text_features(**{k: v.to(self.device) for k, v in tok.items()})
        return _unit(_features(feats))


def _features(out) -> torch.Tensor:
    """transformers 4 returns the projected features; 5 returns an output whose pooler_output holds them."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def get_embedded_eye(checkpoint: str | Path | None = None) -> EmbeddedEye:
    """The process-wide embedded eye per checkpoint (weights are read once; the tower is stateless in eval)."""
    return _cached_eye(str(Path(checkpoint).resolve()) if checkpoint is not None else str(PACKAGED_EYE))


@functools.cache
def _cached_eye(checkpoint: str) -> EmbeddedEye:
    return EmbeddedEye(checkpoint)


def build_eye(config: EyeConfig | dict | None = None) -> Eye:
    """The eye a config asks for; a load failure is one EyeLoadError naming the field."""
    c = config if isinstance(config, EyeConfig) else EyeConfig.model_validate(config or {})
    if c.kind == "clip":
        if c.model is None:
            raise EyeLoadError("eye.model", "a clip eye needs `model`: a Hugging Face id or a local folder")
        return ClipEye(c.model)
    return get_embedded_eye(c.checkpoint)


def topic_scores(eye: Eye, frames: np.ndarray, texts: list[str]) -> np.ndarray:
    """Cosine similarity (N frames, K texts): how much each frame looks like each text."""
    return eye.embed_frames(frames) @ eye.embed_texts(texts).T


def nearest_text(eye: Eye, frames: np.ndarray, texts: list[str]) -> np.ndarray:
    """Index of the text each frame is closest to (zero-shot classification over `texts`)."""
    return topic_scores(eye, frames, texts).argmax(1)
