"""A streamer's portrait: one picture of its visual style from its own stream generator, made at spawn.

Why the stream's own generator: the face then belongs to the stream (same model, same style words), and no
other model or download is needed. The portrait is stored as a PNG under the run folder
(`runs/<season>/avatars/<slot>.png`), read back by the page and kept for the season's record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

PORTRAIT_WORDS = "portrait, face, centered"


def make_portrait(generator, style: str, resolution: int, steps: int, seed: int) -> np.ndarray:
    """One frame of `style` from `generator` (a media.generator.FrameGenerator), seeded: HxWx3 uint8."""
    cond = generator.encode_prompts([f"{style}, {PORTRAIT_WORDS}"[:240]])
    g = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFF)
    frames = generator.generate(cond, resolution, steps, [g])  # text-to-image: no init, no strength
    return np.asarray(frames[0], dtype=np.uint8)


def save_portrait(image: np.ndarray, run_dir: Path, slot: str) -> Path:
    path = Path(run_dir) / "avatars" / f"{slot}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def load_portrait(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
