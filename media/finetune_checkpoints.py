"""Finetune checkpoints on disk: `runs/<season>/checkpoints/<streamer>/ft-<n>.safetensors`.

Why a separate module: the season's run folder is the only place media may write, names come partly from
agents (streamer ids) and from other seasons' files (PBT inheritance), so every path is resolved against a
caller-given root and anything that would land outside it is refused. A checkpoint holds only the trained
tensors (LoRA A/B, or the full UNet for `method="full"`; the diffusers backend trains LoRA only) plus JSON
metadata in the safetensors header, so one file is the whole record and is written atomically (temp file + rename): a crash never leaves half a
checkpoint. Any unreadable, foreign or mismatched file is one FinetuneError line naming it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import torch

from common.errors import first_line
from media.diffusers_generator import DiffusersGenerator
from media.finetune import (
    FinetuneConfig,
    FinetuneError,
    FinetuneJob,
    add_lora,
    check_base,
    finetuned_model_id,
    generator_with_weights,
    lora_in_float32,
    merged_state,
    model_id,
)
from media.generator import TinyDiffusionGenerator

META_KEY = "totoroid_finetune"
SUFFIX = ".safetensors"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_FT_FILE = re.compile(r"^ft-(\d+)\.safetensors$")


def inside(root: str | Path, name: str | Path) -> Path:
    """`root/name` resolved, refusing absolute names, `..` and links that lead outside `root`."""
    base = Path(root).resolve()
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or str(name).strip() == "":
        raise FinetuneError(f"checkpoint path {str(name)[:120]!r} must be a relative path inside {base}")
    path = (base / rel).resolve()
    if not path.is_relative_to(base) or path == base:
        raise FinetuneError(f"checkpoint path {str(name)[:120]!r} leads outside {base}")
    if path.suffix != SUFFIX:
        raise FinetuneError(f"checkpoint path {str(name)[:120]!r} must end in {SUFFIX}")
    return path


def save_adapter(job: FinetuneJob, root: str | Path, name: str | Path) -> Path:
    """Write the job's trained tensors and metadata to `root/name` atomically; returns the path."""
    from safetensors.torch import save_file

    path = inside(root, name)
    tensors = job.trained_tensors()
    meta = {**job.metadata(), "model_id": finetuned_model_id(job.base_id, tensors)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    os.replace(tmp, path)
    return path


def read_adapter(root: str | Path, name: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of a checkpoint; a missing, corrupt or foreign file is one FinetuneError."""
    from safetensors import safe_open

    path = inside(root, name)
    if not path.is_file():
        raise FinetuneError(f"finetune checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open is not iterable)
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise FinetuneError(f"cannot read finetune checkpoint {path}: {first_line(exc)}") from exc
    try:
        meta = json.loads(raw) if raw else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != 1 or meta.get("method") not in ("lora", "full"):
        raise FinetuneError(f"{path} is not a finetune checkpoint (no valid '{META_KEY}' metadata)")
    if finetuned_model_id(meta.get("base_model_id", ""), tensors) != meta.get("model_id"):
        raise FinetuneError(f"finetune checkpoint {path} is damaged: its tensors do not match its model_id")
    return tensors, meta


def load_finetuned_generator(base: TinyDiffusionGenerator | DiffusersGenerator, root: str | Path, name: str | Path):
    """A separate ready-to-sample generator: `base` + the checkpoint at `root/name` (LoRA merged), on either
    backend (a diffusers base gets a generator that shares its VAE and text encoder, media.finetune_sd).

    The checkpoint must have been trained on this very base (same model_id): LoRA deltas on other weights
    would be meaningless. Frames equal those of the job's export_generator() at save time.
    """
    base = check_base(base)
    tensors, meta = read_adapter(root, name)
    path = inside(root, name)
    if meta["base_model_id"] != model_id(base):
        raise FinetuneError(
            f"finetune checkpoint {path} was trained on base {meta['base_model_id']}, "
            f"not on this generator ({model_id(base)})"
        )
    if meta["method"] == "full":
        state = tensors
    else:
        try:
            cfg = FinetuneConfig(
                steps=max(1, int(meta["steps"])),
                rank=int(meta["rank"]),
                alpha=float(meta["alpha"]),
                target_modules=list(meta["target_modules"]),
            )
        except Exception as exc:
            raise FinetuneError(f"finetune checkpoint {path} has bad LoRA metadata: {first_line(exc)}") from exc
        from peft import set_peft_model_state_dict

        unet = copy.deepcopy(base.unet)
        add_lora(unet, cfg)
        lora_in_float32(unet)  # as the job trained them: the merge equals its export_generator()'s
        result = set_peft_model_state_dict(unet, tensors)
        missing = [k for k in result.missing_keys if "lora_" in k]
        if missing or result.unexpected_keys:
            raise FinetuneError(
                f"finetune checkpoint {path} does not fit this generator's LoRA layers "
                f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected tensors)"
            )
        state = merged_state(unet)
    return generator_with_weights(base, state, meta["model_id"])


class CheckpointDir:
    """One season's checkpoint folder: `<root>/<streamer>/ft-<n>.safetensors`, numbered from 1."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def _streamer(streamer: str) -> str:
        if not isinstance(streamer, str) or not _SAFE_NAME.match(streamer):
            raise FinetuneError(
                f"streamer id {str(streamer)[:80]!r} is not a safe folder name "
                "(letters, digits, '_', '-', '.'; not starting with '.')"
            )
        return streamer

    def numbers(self, streamer: str) -> list[int]:
        folder = self.root / self._streamer(streamer)
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FT_FILE.match(p.name)))

    def name(self, streamer: str, n: int) -> str:
        """The relative name of checkpoint n of a streamer (what load_finetuned_generator takes)."""
        return f"{self._streamer(streamer)}/ft-{int(n)}{SUFFIX}"

    def latest(self, streamer: str) -> str | None:
        nums = self.numbers(streamer)
        return self.name(streamer, nums[-1]) if nums else None

    def save(self, job: FinetuneJob, streamer: str) -> str:
        """Save as the streamer's next checkpoint; returns its relative name."""
        nums = self.numbers(streamer)
        name = self.name(streamer, (nums[-1] + 1) if nums else 1)
        save_adapter(job, self.root, name)
        return name

    def load(self, base: TinyDiffusionGenerator | DiffusersGenerator, name: str):
        return load_finetuned_generator(base, self.root, name)

    def inherit(self, parent: str, child: str) -> str | None:
        """PBT exploit: copy the parent's latest checkpoint as the child's next one (None if it has none)."""
        src = self.latest(parent)
        if src is None:
            return None
        read_adapter(self.root, src)  # refuse to propagate a damaged file
        nums = self.numbers(child)
        name = self.name(child, (nums[-1] + 1) if nums else 1)
        dst = inside(self.root, name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(inside(self.root, src), tmp)
        os.replace(tmp, dst)
        return name
