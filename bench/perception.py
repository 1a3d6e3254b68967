"""Calibration of media.perception: detail and speckle of scene frames and generated frames, by resolution and
steps. Prints JSON. Usage: .venv/bin/python bench/perception.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.backends import build_generator  # noqa: E402
from media.base_eval import generated_frames  # noqa: E402
from media.embedding import get_text_embedder  # noqa: E402
from media.generator import GeneratorConfig  # noqa: E402
from media.perception import detail, speckle  # noqa: E402
from media.sources.synthetic import SyntheticScene  # noqa: E402
from media.trends import DEFAULT_TOPICS  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    emb = get_text_embedder()
    gen = build_generator(GeneratorConfig(), emb, "cpu")
    out: dict = {"scenes": {}, "generated": {}}
    for res in (64, 128):
        frames = np.concatenate([SyntheticScene(t, 3).frames(0.0, 2, 1.0, res) for t in DEFAULT_TOPICS])
        out["scenes"][res] = {"detail": round(detail(frames), 3), "speckle": round(speckle(frames), 3)}
        for steps in (1, 2, 4):
            frames, _ = generated_frames(gen, emb.embed, DEFAULT_TOPICS, steps, 2, res, prompts="caption")
            out["generated"][f"{res}px_{steps}step"] = {
                "detail": round(detail(frames), 3),
                "speckle": round(speckle(frames), 3),
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
