"""The per-round speech budget: how much a streamer may say, and what counts as saying it again.

Why a budget: a voice is a stream's commentary, not a second channel to flood; a streamer that talks all
round, reads a paragraph or repeats itself is limited here (the `speak` tool answers why), and the audience
counts the refused lines against it (spam). Durations are estimated from the text, not from the synthesised
audio, so the schedule and the budget are the same on every replay of a season (Piper's noise is random).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

SECONDS_PER_CHAR = 0.06  # Piper's joe-medium at length scale 1 says ~17-19 characters a second (measured)
SECONDS_PER_LINE = 0.3  # the pauses at either end of a line


class SpeechBudget(BaseModel):
    """Part of the season config (`voice.budget`). Defaults for the default season's 6 s rounds: at most a
    round's worth spoken (lines queue into the next round, so more would grow a backlog)."""

    model_config = ConfigDict(extra="forbid")

    lines_per_round: int = Field(2, ge=0, le=50, description="lines a streamer may say per round")
    seconds_per_round: float = Field(
        6.0, ge=0, le=600, description="estimated speech seconds per round (the season caps it at round_seconds)"
    )
    # 5.5 s: the 80 characters the LLM may write in one `speak` (crews.crew_tools) always fit (5.1 s)
    line_seconds: float = Field(5.5, gt=0, le=60, description="the longest line, in estimated seconds")
    repeat_window: int = Field(6, ge=0, le=100, description="earlier lines a new one is compared with")
    repeat_similarity: float = Field(
        0.8, gt=0, le=1, description="word overlap (Jaccard) at which a line counts as said again"
    )


def estimate_seconds(text: str, length_scale: float = 1.0) -> float:
    return round((SECONDS_PER_LINE + SECONDS_PER_CHAR * len(text)) * length_scale, 3)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def similarity(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return 1.0 if a.strip().lower() == b.strip().lower() else 0.0
    return len(wa & wb) / len(wa | wb)


def refusal(text: str, this_round: list[str], recent: list[str], budget: SpeechBudget) -> str | None:
    """Why `text` may not be said now (one short reason), or None. `this_round`: lines already accepted
    this round; `recent`: earlier accepted lines, oldest first."""
    if len(this_round) >= budget.lines_per_round:
        return f"speech budget: {budget.lines_per_round} lines per round already said"
    seconds = estimate_seconds(text)
    if seconds > budget.line_seconds:
        return f"too long: about {seconds:.1f} s, at most {budget.line_seconds:g} s a line"
    window = (recent + this_round)[-budget.repeat_window :] if budget.repeat_window else []
    if any(similarity(text, old) >= budget.repeat_similarity for old in window):
        return "said already: viewers leave a streamer who repeats itself"
    spent = sum(estimate_seconds(t) for t in this_round)
    if spent + seconds > budget.seconds_per_round:
        return f"speech budget: {budget.seconds_per_round:g} s per round; {spent:.1f} s already said"
    return None
