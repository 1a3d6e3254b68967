"""The season configuration: one pydantic model, loaded from YAML with located errors.

`arena/configs/default.yaml` is the default season. Every number a season depends on is here, so a season
row's stored config is enough to resume or re-run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.yamlfile import read_mapping, validation_message
from arena.audience import AudienceConfig
from arena.chat_config import ChatSection
from common.errors import ConfigError
from crews.llm_config import LLMSection  # also switches crewai/litellm network features off
from crews.registry import PolicyName
from media.backends import GeneratorModelConfig
from media.broadcast import BroadcastConfig
from media.cost_model import CostModel
from media.eye import EyeConfig
from media.generator import GeneratorConfig
from media.ray_config import RayConfig
from media.settings import GeneratorLimits, StreamSettings
from media.trends import TrendConfig
from media.voice.config import VoiceSection


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RelegationConfig(Strict):
    every: int = Field(3, ge=0, description="a relegation window every K rounds; 0 = no relegation (experiments)")
    fraction: float = Field(0.2, gt=0, lt=1, description="bottom fraction relegated (at least one streamer)")
    top_fraction: float = Field(0.2, gt=0, le=1, description="PBT exploit copies from this top fraction")
    fresh_probability: float = Field(0.25, ge=0, le=1, description="chance a replacement is fresh from the pool")
    resample_probability: float = Field(0.25, ge=0, le=1, description="PBT explore: resample from the prior")


class GeneratorSection(Strict):
    model: GeneratorModelConfig = Field(
        default_factory=GeneratorConfig,
        description="kind: embedded (default, the tiny CPU model) or diffusers (any SD-1.x/2.x id or folder)",
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$",
        description="auto: the first CUDA GPU if torch sees one, else the CPU",
    )
    defaults: StreamSettings = Field(default_factory=StreamSettings, description="settings a new stream starts with")
    limits: GeneratorLimits = Field(default_factory=GeneratorLimits)

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> GeneratorSection:
        d, lim = self.defaults, self.limits
        if d.resolution not in lim.resolutions:
            raise ValueError(f"defaults.resolution {d.resolution} is not one of limits.resolutions {lim.resolutions}")
        if not lim.steps_min <= d.steps <= lim.steps_max:
            raise ValueError(f"defaults.steps {d.steps} outside limits {lim.steps_min}..{lim.steps_max}")
        if not lim.fps_min <= d.fps <= lim.fps_max:
            raise ValueError(f"defaults.fps {d.fps} outside limits {lim.fps_min}..{lim.fps_max}")
        return self


class EngineSection(Strict):
    timing: Literal["model", "wall"] = Field(
        "model",
        description="model: a batch costs the cost model's seconds of stream time (turn mode, reproducible); "
        "wall: its measured wall time (live mode always uses wall)",
    )
    buffer_seconds: float = Field(2.0, gt=0, le=60)
    calibrate: bool = Field(False, description="measure the cost model on this machine at season start")
    cost_model: CostModel = Field(default_factory=CostModel)
    finetune_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="share of device time finetune jobs get while any wait (the rest generates every stream's "
        "frames): finetuning on the same device costs content-positivity",
    )
    backend: Literal["local", "ray"] = Field(
        "local",
        description="local: every stream on this process's device; ray: the streams spread over Ray actors, "
        "one device each (the `ray` section; needs the `ray` extra)",
    )
    ray: RayConfig = Field(default_factory=RayConfig, description="the Ray cluster and actors of backend: ray")


class DecisionSection(Strict):
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="a slower decision is dropped")
    max_parallel: int = Field(4, ge=1, le=256, description="semaphore on concurrent decisions")


class SeasonConfig(Strict):
    name: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    streamers: int = Field(6, ge=2, le=256)
    rounds: int = Field(12, ge=1, le=100000)
    round_seconds: float = Field(8.0, gt=0, le=3600)
    clock: Literal["turn", "live"] = "turn"
    policy: PolicyName = "greedy"
    policy_mix: list[PolicyName] | None = Field(
        None,
        min_length=1,
        description="streamer k (in spawn order) plays policy_mix[k % len]; a respawn plays the policy of the "
        "streamer it replaces; null: every streamer plays `policy`",
    )
    personas: str | None = Field(None, description="folder of persona YAML files; default: the built-in pool")
    relegation: RelegationConfig = Field(default_factory=RelegationConfig)
    generator: GeneratorSection = Field(default_factory=GeneratorSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    audience: AudienceConfig = Field(default_factory=AudienceConfig)
    eye: EyeConfig = Field(default_factory=EyeConfig, description="the audience's eye: how frames are seen")
    trends: TrendConfig = Field(default_factory=TrendConfig)
    decision: DecisionSection = Field(default_factory=DecisionSection)
    llm: LLMSection = Field(
        default_factory=LLMSection, description="the LLM of `policy: llm` and of persona generation"
    )
    broadcast: BroadcastConfig = Field(default_factory=BroadcastConfig, description="HLS page (on in live mode)")
    chat: ChatSection = Field(default_factory=ChatSection, description="live chat: simulated viewers, requests")
    voice: VoiceSection = Field(default_factory=VoiceSection, description="streamers' voices, budget and avatars")
    database: str = "arena.db"
    run_dir: str = "runs"


def default_config_path() -> Path:
    return Path(str(resources.files("arena") / "configs" / "default.yaml"))


def load_season_config(
    path: str | Path | None = None, *, flags: Mapping[str, str] | None = None, **overrides: Any
) -> SeasonConfig:
    """Load and validate a season YAML with CLI overrides (seed, rounds, policy, db...) applied before
    validation. A bad override is blamed on the flag the user typed (`flags` maps a field to its flag, e.g.
    database -> --db; default --<field>), not on a line of a file that never held it."""
    path = Path(path) if path is not None else default_config_path()
    clean = {k: v for k, v in overrides.items() if v is not None}
    data, node = read_mapping(path)
    try:
        return SeasonConfig.model_validate({**data, **clean})
    except ValidationError as exc:
        raise ConfigError(_override_message(exc, clean, flags or {}) or validation_message(path, exc, node)) from None


def _override_message(exc: ValidationError, overrides: Mapping[str, Any], flags: Mapping[str, str]) -> str | None:
    """One line for the first validation error that lies in an overridden field, naming its flag."""
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if loc and loc[0] in overrides:
            flag = flags.get(str(loc[0]), f"--{loc[0]}")
            return f"{flag} {overrides[loc[0]]!r}: {err['msg']}"
    return None


__all__ = ["ConfigError", "SeasonConfig", "load_season_config", "default_config_path"]
