"""The season's world: the parts with pixels and eyes, built once from a SeasonConfig.

Kept apart from the loop so tests and benchmarks can build the same parts, and so every model that cannot
be loaded fails here, before a season row exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.audience import Audience
from arena.config import SeasonConfig
from arena.engines import build_engine
from arena.trend_view import TrendView
from common.errors import FieldError
from media.backends import build_generator
from media.cost_model import CostModel, calibrate
from media.embedding import EmbedderLoadError, TextEmbedder, get_text_embedder
from media.engine_protocol import Engine
from media.eye import Eye, build_eye
from media.generator import FrameGenerator, GeneratorLoadError
from media.trends import TrendFeed

RNG_STREAMS = ("spawn", "audience", "trends", "evolution")


@dataclass
class World:
    embedder: TextEmbedder
    generator: FrameGenerator
    cost_model: CostModel
    engine: Engine  # media.engine.StreamEngine, or media.ray_engine.RayEngine with engine.backend: ray
    audience: Audience
    trends: TrendFeed
    eye: Eye  # the audience's eye: frames and texts in one space
    trend_view: TrendView
    rngs: dict[str, np.random.Generator]

    def trend_embedding(self) -> np.ndarray:
        """What is trending, as the eye sees it (frames and titles of topics and sources, by popularity)."""
        return self.trend_view.embedding()

    def rng_states(self) -> dict[str, dict]:
        return {k: g.bit_generator.state for k, g in self.rngs.items()}

    def load_rng_states(self, states: dict[str, dict]) -> None:
        for k, st in states.items():
            self.rngs[k].bit_generator.state = st


def make_rngs(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per purpose, all from the season seed (so adding a draw in one place does
    not shift every other random number of the season)."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_STREAMS))
    return {name: np.random.default_rng(ss) for name, ss in zip(RNG_STREAMS, children)}


def policy_rng(seed: int, round_number: int, streamer_id: int) -> np.random.Generator:
    """A policy's randomness for one decision: a pure function of (seed, round, streamer)."""
    return np.random.default_rng([seed, round_number, streamer_id, 0x5EED])


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FieldError("generator.device", f"{name!r} but torch sees no CUDA GPU (install torch's CUDA build)")
    return name


def build_world(config: SeasonConfig, *, live: bool = False) -> World:
    """Build every part; a model that cannot be loaded becomes one ConfigError line (exit status 2)."""
    try:
        embedder = get_text_embedder()
        generator = build_generator(config.generator.model, embedder, device=resolve_device(config.generator.device))
    except (EmbedderLoadError, GeneratorLoadError) as exc:
        raise FieldError("generator.model", str(exc)) from None
    cost_model = (
        calibrate(generator, resolution=config.generator.defaults.resolution)
        if config.engine.calibrate
        else config.engine.cost_model
    )
    timing = "wall" if live or config.clock == "live" else config.engine.timing
    rngs = make_rngs(config.seed)
    eye = build_eye(config.eye)
    audience = Audience(config.audience, eye.embed_texts(list(config.audience.topics)), rngs["audience"])
    trends = TrendFeed(config.trends, rngs["trends"])
    trend_view = TrendView(eye, trends, list(config.audience.topics))
    engine = build_engine(config, generator, embedder, cost_model, timing)  # last: Ray actors hold devices
    return World(embedder, generator, cost_model, engine, audience, trends, eye, trend_view, rngs)
