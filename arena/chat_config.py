"""The season's `chat:` section: how much the simulated audience chats, what a streamer is shown of its chat,
how long a style request waits. Volumes are modelling choices sized so a season's chat stays readable (a few
lines per stream and round) and cheap (template text, no model) by default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from media.broadcast.chat_sources import ExternalChatConfig


class ChatSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    simulated: bool = Field(True, description="simulated viewers write chat (templates grounded in their state)")
    writer: Literal["templates", "llm"] = Field(
        "templates",
        description="llm: the season's LLM (policy llm) rewrites each simulated line from the same grounding; "
        "recorded as llm_call events (purpose chat) and replayed with --llm replay:SEASON",
    )
    per_viewer: float = Field(
        0.2, ge=0, le=10, description="expected simulated messages per round per viewer watching (ERN)"
    )
    per_stream_max: int = Field(3, ge=0, le=50, description="cap on simulated messages per stream and round")
    style_share: float = Field(
        0.3, ge=0, le=1, description="share of off-topic viewers' messages that are `!style <their interest>`"
    )
    shown: int = Field(8, ge=0, le=50, description="recent chat lines a streamer's observation carries")
    request_rounds: int = Field(2, ge=1, le=20, description="rounds a style request waits for the streamer")
    per_client: int = Field(20, ge=1, le=10_000, description="web messages one page may send per window")
    per_address: int = Field(100, ge=1, le=1_000_000, description="web messages one address may send per window")
    window_seconds: float = Field(10.0, gt=0, le=3600, description="the rate limits' window")
    sources: list[ExternalChatConfig] = Field(
        default_factory=list, description="external chats (Twitch, YouTube) each mapped to a stream; optional extras"
    )
