"""The audience's eye, measured (media.eye): prints ONE JSON object; never run by `make test`.

Figures (chance is 1 / number of topics; the audience's DEFAULT_TOPICS):
  (a) heldout_source_accuracy: frames of built-in scenes at seeds the eye never trained on (1000..), each
      counted right when its nearest bare topic label (media.eye.nearest_text) is its own topic; also per
      resolution, since streams run at 32-128 px;
  (b) generated_accuracy: frames of the packaged base generator at 1 and 4 steps from each topic's label and
      descriptive caption (media.base_eval.generated_frames, noise seeds 10_000.., not the trainer's), split
      into the 8 scene topics the generator was trained on and the 2 niche topics it was not (the eye trains on
      other frames of the same generator, so this also counts what it learned of the generator's renditions:
      eye.json's ablation_scenes_only is the pixels-against-scenes reading);
  (c) prompt_picture_auc: ROC AUC of cosine(frame, its prompt) against cosine(frame, another topic's prompt);
  (d) ms_per_frame at batch 1 and 16 with one torch thread (best of several runs; the load average is
      recorded because other work on the 2 cores skews it);
  (e) label_trick: the same (a)-(c) with the bare labels swapped for descriptive prompts, and the mean
      cosine to the viewer's topic of frames drawn from a bare-label prompt vs a descriptive prompt: with
      text-only matching the bare label scores 1.0 whatever is drawn; with the eye only the pixels count;
  null_frame: how a solid grey frame scores (max cosine and max softmax probability over the topics).

Run: .venv/bin/python -m bench.eye [--checkpoint PATH] [--record]   (--record merges the figures into eye.json)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from arena.audience import DEFAULT_TOPICS
from media.base_eval import generated_frames
from media.eye import PACKAGED_EYE, EmbeddedEye
from media.sources.captions import caption_for
from media.sources.synthetic import SyntheticScene
from media.train_eye import EXTRA_PHRASES, HELDOUT_SEED, topic_captions

NICHE = [t for t in DEFAULT_TOPICS if t in EXTRA_PHRASES]


def descriptive(topic: str) -> str:
    """A descriptive prompt of a topic (not the bare label)."""
    return EXTRA_PHRASES[topic][0] if topic in EXTRA_PHRASES else caption_for(topic)


def heldout_frames(topics: list[str], resolution: int = 64, seeds: int = 4, per_seed: int = 8) -> tuple:
    frames = [
        SyntheticScene(t, HELDOUT_SEED + s).frames(3.0, per_seed, 0.29, resolution)
        for t in topics
        for s in range(seeds)
    ]
    return np.concatenate(frames), np.repeat(np.arange(len(topics)), seeds * per_seed)


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting half (the Mann-Whitney statistic, all pairs)."""
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def prompt_auc(z: np.ndarray, own: list[str], other: list[str], eye) -> float:
    """AUC of cos(frame, own prompt) vs cos(frame, mismatched prompt) (rows of z are unit frame vectors)."""
    pos = (z * eye.embed_texts(own)).sum(1)
    neg = (z * eye.embed_texts(other)).sum(1)
    return round(roc_auc(pos, neg), 4)


def mismatched(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return (labels + rng.integers(1, k, size=len(labels))) % k


def figures(eye, topics: list[str], texts: list[str], z_src, y_src, gens: dict, rng) -> dict:
    """(a)-(c) with `texts` (one per topic) standing for the topics."""
    t = eye.embed_texts(texts)
    acc = lambda z, y: round(float(((z @ t.T).argmax(1) == y).mean()), 4)  # noqa: E731
    scene = np.array([topic not in NICHE for topic in topics])
    out = {"heldout_source_accuracy": acc(z_src, y_src), "generated_accuracy": {}, "prompt_picture_auc": {}}
    other = mismatched(y_src, len(topics), rng)
    out["prompt_picture_auc"]["source"] = prompt_auc(z_src, [texts[k] for k in y_src], [texts[k] for k in other], eye)
    for steps, (z, y, prompts) in gens.items():
        on_scene = scene[y]
        out["generated_accuracy"][str(steps)] = {
            "all": acc(z, y),
            "scene_topics": acc(z[on_scene], y[on_scene]),
            "niche_topics": acc(z[~on_scene], y[~on_scene]) if (~on_scene).any() else None,
        }
        other = mismatched(y, len(topics), rng)
        out["prompt_picture_auc"][f"generated_{steps}"] = prompt_auc(z, prompts, [texts[k] for k in other], eye)
    return out


def speed(eye, repeats: int = 5) -> dict:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {}
        for b in (1, 16):
            x = np.random.default_rng(0).integers(0, 256, (b, 64, 64, 3), dtype=np.uint8)
            eye.embed_frames(x)
            best = min(_timed(eye, x) for _ in range(repeats))
            out[f"batch_{b}"] = round(best * 1000 / b, 3)
        return out
    finally:
        torch.set_num_threads(before)


def _timed(eye, x: np.ndarray, n: int = 10) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        eye.embed_frames(x)
    return (time.perf_counter() - t0) / n


def generated(eye, topics: list[str]) -> dict:
    """Frames of the packaged generator per step count: (unit vectors, topic index, the prompt each came from)."""
    from media.generator import GeneratorConfig, TinyDiffusionGenerator

    gen = TinyDiffusionGenerator(GeneratorConfig())
    out = {}
    for steps in (1, 4):
        frames, labels = generated_frames(gen, eye.embed_texts, topics, steps, seeds=4, prompts="both")
        y = np.array([topics.index(t) for t in labels])
        prompts = [p for t in topics for p in [t] * 4 + [caption_for(t)] * 4]
        out[steps] = (eye.embed_frames(frames), y, prompts)
    return out


def label_trick(eye, topics: list[str], z_src, y_src, gens: dict, rng) -> dict:
    t = eye.embed_texts(topics)
    desc = [descriptive(x) for x in topics]
    text_only = (eye.embed_texts(desc) * t).sum(1)
    out = {"label_texts": figures(eye, topics, topics, z_src, y_src, gens, rng)}
    out["descriptive_texts"] = figures(eye, topics, desc, z_src, y_src, gens, rng)
    cos = {}
    for steps, (z, y, prompts) in gens.items():
        is_label = np.array([p in topics for p in prompts])
        own = (z * t[y]).sum(1)
        cos[str(steps)] = {
            "frames_from_label_prompt": round(float(own[is_label].mean()), 4),
            "frames_from_descriptive_prompt": round(float(own[~is_label].mean()), 4),
        }
    out["mean_cos_to_topic"] = cos
    out["text_only_cos_to_topic"] = {"label_prompt": 1.0, "descriptive_prompt": round(float(text_only.mean()), 4)}
    return out


def null_frame(eye, topics: list[str], own: np.ndarray) -> dict:
    """A solid grey frame against the topics: its best cosine next to real frames' own-topic cosines, and the
    softmax (at the eye's temperature) over the topics alone (relative: some topic always wins) and with a
    "blank screen" text added."""
    texts = [*topics, "a blank grey screen"]
    cos = eye.embed_frames(np.full((1, 64, 64, 3), 128, np.uint8))[0] @ eye.embed_texts(texts).T
    soft = lambda c: np.exp(eye.logit_scale * (c - c.max())) / np.exp(eye.logit_scale * (c - c.max())).sum()  # noqa: E731
    return {
        "max_cos_to_a_topic": round(float(cos[:-1].max()), 4),
        "heldout_own_topic_cos_p5": round(float(np.percentile(own, 5)), 4),
        "heldout_own_topic_cos_median": round(float(np.median(own)), 4),
        "max_prob_topics_only": round(float(soft(cos[:-1]).max()), 4),
        "prob_blank_screen_among_topics": round(float(soft(cos)[-1]), 4),
    }


def run(checkpoint: Path) -> dict:
    eye = EmbeddedEye(checkpoint)
    topics = list(DEFAULT_TOPICS)
    rng = np.random.default_rng(0)
    frames, y_src = heldout_frames(topics)
    z_src = eye.embed_frames(frames)
    gens = generated(eye, topics)
    t = eye.embed_texts(topics)
    out = {
        "eye": "embedded",
        "checkpoint": str(checkpoint),
        "parameters": sum(p.numel() for p in eye.tower.parameters()),
    }
    out["topics"], out["chance"] = topics, round(1 / len(topics), 4)
    out.update(figures(eye, topics, topics, z_src, y_src, gens, rng))
    by_res = {}
    for r in (32, 128):
        f, y = heldout_frames(topics, r)
        by_res[str(r)] = round(float(((eye.embed_frames(f) @ t.T).argmax(1) == y).mean()), 4)
    out["heldout_source_accuracy_by_resolution"] = {"64": out["heldout_source_accuracy"], **by_res}
    out["ms_per_frame"] = speed(eye)
    out["load_average"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    out["label_trick"] = label_trick(eye, topics, z_src, y_src, gens, rng)
    out["null_frame"] = null_frame(eye, topics, (z_src * t[y_src]).sum(1))
    out["captions_per_topic"] = {x: len(topic_captions(x)) for x in topics}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.eye", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=PACKAGED_EYE)
    p.add_argument("--record", action="store_true", help="merge the figures into the checkpoint's .json note")
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = run(a.checkpoint)
    print(json.dumps(out, indent=2))
    if a.record:
        note_path = a.checkpoint.with_suffix(".json")
        note = json.loads(note_path.read_text()) if note_path.is_file() else {}
        keep = ("heldout_source_accuracy", "generated_accuracy", "prompt_picture_auc", "ms_per_frame")
        note.update({k: out[k] for k in keep})
        note["bench"] = "python -m bench.eye --record (full figures: label_trick, null_frame, per resolution)"
        note_path.write_text(json.dumps(note, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
