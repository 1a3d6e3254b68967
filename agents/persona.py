"""The persona of a streamer: who it is, what it wants, and the numeric traits the policies read.

Only `seed` (a one-line description) is required, so a user can write `seed: a retired lighthouse keeper
who streams storms` and let the arena complete the rest. `complete_offline` fills the gaps deterministically
from the seed; the LLM completion of the agents issue replaces it with generated, richer fields.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Traits(BaseModel):
    """Numbers in 0..1 that policies and mutation use. Modelling choices, not measured quantities."""

    model_config = ConfigDict(extra="forbid")

    boldness: float = Field(0.5, ge=0, le=1)  # appetite for large setting changes
    trend_following: float = Field(0.5, ge=0, le=1)  # how much it chases trending topics
    patience: float = Field(0.5, ge=0, le=1)  # how long it tolerates a bad position before acting
    quality_focus: float = Field(0.5, ge=0, le=1)  # preference for steps/resolution over fps


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: str = Field(min_length=3, max_length=300, description="one line that describes the streamer")
    name: str | None = Field(None, min_length=1, max_length=60)
    character: str | None = Field(None, max_length=2000)
    backstory: str | None = Field(None, max_length=4000)
    visual_style: str | None = Field(None, max_length=300, description="what its stream looks like")
    voice: str | None = Field(None, max_length=300)
    voice_file: str | None = Field(
        None, max_length=500, description="a Piper .onnx voice (its .onnx.json beside it); default: the packaged voice"
    )
    goals: list[str] = Field(default_factory=list, max_length=10)
    survival_motive: str | None = Field(None, max_length=1000)
    traits: Traits = Field(default_factory=Traits)
    # A viewer's style request (`!style <prompt>` in chat): "agent" shows it to the streamer, who approves it by
    # calling choose_prompt with it (or lets it lapse); "auto" applies it through choose_prompt at once.
    style_requests: Literal["agent", "auto"] = "agent"

    @field_validator("seed")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = v.strip()
        if "\n" in v:
            raise ValueError("seed must be a single line")
        return v

    def is_complete(self) -> bool:
        return all([self.name, self.character, self.visual_style, self.survival_motive, self.goals])

    def complete_offline(self) -> Persona:
        """Fill missing fields from the seed alone (deterministic, no model). The LLM path is richer."""
        seed = self.seed.rstrip(".")
        words = re.findall(r"[A-Za-z]+", seed)
        if words and words[0].lower() in ("a", "an", "the"):
            words = words[1:]  # "a desert nomad who ..." -> "Desert Nomad"
        name = self.name or " ".join(w.capitalize() for w in words[:2]) or "Streamer"
        return self.model_copy(
            update={
                "name": name,
                "character": self.character or seed[0].upper() + seed[1:] + ".",
                "backstory": self.backstory or f"Started streaming as {seed}.",
                "visual_style": self.visual_style or seed,
                "goals": self.goals or ["hold the audience", "climb the leaderboard"],
                "survival_motive": self.survival_motive
                or "A streamer nobody watches is relegated and switched off; keep the eyes.",
            }
        )

    @property
    def display_name(self) -> str:
        return self.name or self.seed[:24]

    def scene_prompt(self) -> str:
        """The prompt a new stream starts with: its visual style."""
        return (self.visual_style or self.seed)[:240]
