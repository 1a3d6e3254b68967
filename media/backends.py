"""Which generator a season uses: the `generator.model` config union and the one function that builds it.

Why a separate module: the season config must name every backend's config (a discriminated union on `kind`,
so a YAML typo is reported on the right field), while the heavy imports of a backend (diffusers pipelines)
must only happen when that backend is chosen. `kind` may be left out: it means `embedded`, so season files
written before the diffusers backend existed keep working.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from media.diffusers_generator import DiffusersGeneratorConfig
from media.generator import FrameGenerator, GeneratorConfig


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "embedded"))
    return str(getattr(value, "kind", "embedded"))


GeneratorModelConfig = Annotated[
    Annotated[GeneratorConfig, Tag("embedded")] | Annotated[DiffusersGeneratorConfig, Tag("diffusers")],
    Discriminator(_kind),
]


def build_generator(config: GeneratorConfig | DiffusersGeneratorConfig, embedder: Any, device: str) -> FrameGenerator:
    """Construct the configured backend (loading its weights now); load failures raise GeneratorLoadError."""
    if isinstance(config, DiffusersGeneratorConfig):
        from media.diffusers_generator import DiffusersGenerator

        return DiffusersGenerator(config, embedder, device=device)
    from media.generator import TinyDiffusionGenerator

    return TinyDiffusionGenerator(config, embedder, device=device)
