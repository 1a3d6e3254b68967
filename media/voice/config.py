"""The season's `voice:` section: who speaks how, within what budget, with which face.

Why one section for voice and avatar: both follow a streamer's spoken lines; the arena hands a persona's voice
words and voice file to `voice_profile`, and the broadcast gets the face.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from media.avatar.echomimic import EchoMimicConfig
from media.voice.budget import SpeechBudget


class VoiceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="spoken lines are synthesised onto broadcast streams")
    engine: Literal["piper", "espeak"] = Field("piper", description="piper (falls back to espeak-ng) or espeak")
    budget: SpeechBudget = Field(default_factory=SpeechBudget)
    avatar: Literal["embedded", "echomimic", "none"] = Field(
        "embedded", description="the face on a broadcast stream: embedded animator, EchoMimic clips, or none"
    )
    echomimic: EchoMimicConfig | None = Field(None, description="the EchoMimic checkout (avatar: echomimic)")

    @model_validator(mode="after")
    def _echomimic_configured(self) -> VoiceSection:
        if self.avatar == "echomimic" and self.echomimic is None:
            raise ValueError("avatar: echomimic needs an echomimic: {checkout: ...} section")
        return self
