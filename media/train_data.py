"""The base trainer's data: random (frame, caption embedding) batches from the synthetic scenes.

Why a module of its own: a batch is drawn in two parts. The draw (topic, scene seed, time, caption,
resolution) takes every random number from the run's numpy RNG in the main process; the rendering of the
frames is pure and can run in worker processes. So a run renders on 1 or 15 cores and learns from exactly the
same batches, and a resumed run continues the same sequence (the RNG state saved is the one before the first
batch not yet learned from, however many batches the workers have rendered ahead).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from media.sources.captions import caption_variants
from media.sources.synthetic import SyntheticScene

SCENE_SECONDS = 3600.0  # training times are drawn from the first hour of every scene
_SCENE_CACHE_LIMIT = 4096  # many scene seeds: a scene is 0.1 ms to build, keep memory bounded


@dataclass(frozen=True)
class BatchDraw:
    """Everything random about one batch, and the RNG state it was drawn from."""

    resolution: int
    topic: np.ndarray
    seed: np.ndarray
    when: np.ndarray
    caption: np.ndarray
    rng_state_before: dict[str, Any]


class SceneRenderer:
    """Renders the frames of a draw; keeps built scenes (a pure function of topic and seed)."""

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics
        self._scenes: dict[tuple[int, int], SyntheticScene] = {}

    def scene(self, topic: int, seed: int) -> SyntheticScene:
        key = (topic, seed)
        if len(self._scenes) > _SCENE_CACHE_LIMIT:
            self._scenes.clear()
        if key not in self._scenes:
            self._scenes[key] = SyntheticScene(self.topics[topic], seed)
        return self._scenes[key]

    def render(self, draw: BatchDraw) -> np.ndarray:
        """uint8 frames (B, R, R, 3)."""
        return np.stack(
            [
                self.scene(int(k), int(s)).frame(float(t), draw.resolution)
                for k, s, t in zip(draw.topic, draw.seed, draw.when)
            ]
        )


def caption_texts(topics: list[str]) -> tuple[list[str], np.ndarray]:
    """All caption variants of the topics, flat, and each topic's offset into that list."""
    captions = [caption_variants(t) for t in topics]
    return [c for cs in captions for c in cs], np.cumsum([0] + [len(c) for c in captions])


def cached_embedder(path: Path, embed: Callable[[list[str]], np.ndarray] | None) -> Callable[[list[str]], np.ndarray]:
    """An embed function that reads texts' vectors from an npz written earlier (a machine without the packaged
    MiniLM, e.g. a GPU box, trains from it), computing and writing the missing ones with `embed` when given."""

    def lookup(texts: list[str]) -> np.ndarray:
        known: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as z:
                known = dict(zip(z["texts"].tolist(), z["vectors"]))
        missing = [t for t in texts if t not in known]
        if missing:
            if embed is None:
                raise KeyError(f"{path} has no embedding for {len(missing)} captions, e.g. {missing[0]!r}")
            known.update(zip(missing, np.asarray(embed(missing), np.float32)))
            path.parent.mkdir(parents=True, exist_ok=True)
            names = sorted(known)
            with open(path, "wb") as f:  # np.savez would append .npz to a path without it
                np.savez(f, texts=np.array(names), vectors=np.stack([known[n] for n in names]))
        return np.stack([known[t] for t in texts]).astype(np.float32)

    return lookup


class SceneData:
    """Random (frame, caption embedding) batches from the synthetic scenes, reproducible from an rng."""

    def __init__(self, topics: list[str], scene_seeds: int, embed: Callable[[list[str]], np.ndarray], dim: int):
        self.topics = topics
        self.scene_seeds = scene_seeds
        texts, self.caption_offsets = caption_texts(topics)
        self.caption_emb = torch.from_numpy(np.asarray(embed(texts), np.float32))
        if self.caption_emb.shape != (len(texts), dim):
            raise ValueError(f"the text embedder returned {tuple(self.caption_emb.shape)} embeddings")
        self.renderer = SceneRenderer(topics)

    def draw(self, rng: np.random.Generator, size: int, resolutions: list[int]) -> BatchDraw:
        state = rng.bit_generator.state
        res = resolutions[int(rng.integers(len(resolutions)))]
        topic = rng.integers(len(self.topics), size=size)
        seed = rng.integers(self.scene_seeds, size=size)
        when = rng.uniform(0.0, SCENE_SECONDS, size=size)
        lo, hi = self.caption_offsets[topic], self.caption_offsets[topic + 1]
        caption = lo + (rng.uniform(size=size) * (hi - lo)).astype(np.int64)
        return BatchDraw(res, topic, seed, when, caption, state)

    def tensors(self, draw: BatchDraw, frames: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, 3, R, R) in [-1, 1] and caption embeddings (B, 384) on the device (the uint8 frames
        travel, a quarter of the bytes of floats)."""
        x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return x, self.caption_emb[draw.caption].to(device)


_WORKER: SceneRenderer | None = None


def _init_worker(topics: list[str]) -> None:
    global _WORKER
    torch.set_num_threads(1)
    _WORKER = SceneRenderer(topics)


def _render_in_worker(draw: BatchDraw) -> np.ndarray:
    assert _WORKER is not None
    return _WORKER.render(draw)


class BatchStream:
    """The run's batches in order: rendered in this process (workers=0) or by a pool of worker processes
    that renders up to `ahead` batches in advance. `rng_state()` is the state to save for an exact resume."""

    def __init__(
        self,
        data: SceneData,
        rng: np.random.Generator,
        size: int,
        resolutions: list[int],
        workers: int,
        device: torch.device,
    ) -> None:
        self.data, self.rng, self.size, self.resolutions, self.device = data, rng, size, resolutions, device
        self._pool = None
        self._pending: deque = deque()
        if workers > 0:  # spawn: safe next to an initialised CUDA context, unlike fork
            ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(workers, initializer=_init_worker, initargs=(data.topics,))
            self._ahead = 4 * workers

    def _submit(self) -> None:
        draw = self.data.draw(self.rng, self.size, self.resolutions)
        assert self._pool is not None
        self._pending.append((draw, self._pool.apply_async(_render_in_worker, (draw,))))

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pool is None:
            draw = self.data.draw(self.rng, self.size, self.resolutions)
            return self.data.tensors(draw, self.data.renderer.render(draw), self.device)
        while len(self._pending) < self._ahead:
            self._submit()
        draw, job = self._pending.popleft()
        return self.data.tensors(draw, job.get(), self.device)

    def rng_state(self) -> dict[str, Any]:
        """The RNG state before the first batch not yet returned by next()."""
        return self._pending[0][0].rng_state_before if self._pending else self.rng.bit_generator.state

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None
