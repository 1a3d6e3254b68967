"""What a streamer sees at the start of a round: its own numbers, the trends and the table.

Built by the arena, read by policies and, as read-only views, by `read_trends` and `read_leaderboard`.
Trend titles come from the outside world and are untrusted text: they are data here, never instructions.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class TrendView(BaseModel):
    id: str
    title: str
    topic: str
    viewers: int


class LeaderboardRow(BaseModel):
    rank: int
    name: str
    ern: float
    share: float
    rating: float  # openskill ordinal (mu - 3 sigma)
    is_self: bool = False
    topic: str = ""  # what the audience's eye saw on that stream last round (never its prompt)


class ChatLine(BaseModel):
    """One message of the stream's chat (untrusted: viewers, real or simulated, wrote it)."""

    id: int
    name: str
    text: str
    source: str = "web"  # web | sim | twitch | youtube | streamer | arena
    kind: str = "chat"  # chat | style_request | outcome


class StyleRequest(BaseModel):
    """A viewer's `!style <prompt>` waiting for the streamer: approving it means calling choose_prompt with it
    (topic = `topic` when the request names a topic the tool takes, else prompt = `prompt`)."""

    id: int
    name: str
    prompt: str
    topic: str | None = None
    rounds_left: int = 1


class Recollection(BaseModel):
    """One remembered round: what the streamer did and what its viewers did next (Generative Agents'
    memory stream, reduced to the measured effect)."""

    round: int
    did: str  # the applied tool calls, short ("fps=8; prompt 'ocean'"), or "nothing"
    viewers_before: float
    viewers_after: float
    share_after: float


class Observation(BaseModel):
    stream_id: str
    name: str
    round: int
    rounds_total: int
    rounds_to_relegation: int
    persona_summary: str
    persona_style: str = ""
    persona_traits: dict[str, float] = Field(default_factory=dict)
    ern_history: list[float] = Field(default_factory=list)
    share: float = 0.0
    rating: float = 0.0
    rank: int | None = None
    in_relegation_zone: bool = False
    buffer_level: int = 0
    buffer_capacity: int = 0
    stall_seconds: float = 0.0
    stall_count: int = 0
    frames_generated: int = 0
    frames_output: int = 0
    settings: dict = Field(default_factory=dict)
    limits: dict = Field(default_factory=dict)
    # What the audience perceived of the stream last round (0..1 each: detail, speckle, smoothness, motion,
    # stability, novelty) and why viewers came or left: each utility term's mean contribution (utils).
    perceived: dict[str, float] = Field(default_factory=dict)
    ern_terms: dict[str, float] = Field(default_factory=dict)
    trends: list[TrendView] = Field(default_factory=list)
    leaderboard: list[LeaderboardRow] = Field(default_factory=list)
    # What the eye saw on this stream last round: the audience topic nearest to its frames ("" before round 1).
    perceived_topic: str = ""
    # Audience topic -> viewers whose strongest interest it is (what the crowd wants, not what trends say).
    topic_demand: dict[str, int] = Field(default_factory=dict)
    # Window ERN minus the relegation line (positive: safe by that many viewers); None when no window is ahead.
    line_gap: float | None = None
    # Estimated share of the device the league's current settings need (cost model; above 1 = stalls).
    device_load: float = 0.0
    memory: list[Recollection] = Field(default_factory=list)
    reflection: str = ""  # the streamer's latest lessons and plan (written at relegation windows)
    chat: list[ChatLine] = Field(default_factory=list)  # the stream's recent chat, oldest first (untrusted)
    style_requests: list[StyleRequest] = Field(default_factory=list)  # pending viewers' style requests


class ReflectionRequest(BaseModel):
    """What a streamer reflects on when a relegation window closes: its window and its memory. Its answer
    (lessons and a plan) enters its next observations as `reflection`; exploit children inherit it."""

    stream_id: str
    name: str
    round: int
    character: str = ""
    survival_motive: str = ""
    window_ern: float = 0.0
    rank: int | None = None
    streamers: int = 0
    memory: list[Recollection] = Field(default_factory=list)
    previous: str = ""  # its reflection from the window before, if any
    stall_seconds: float = 0.0  # its stalls in the window's last round
    ern_terms: dict[str, float] = Field(default_factory=dict)  # why viewers came or left in that round
