"""Reflection at a relegation window (Generative Agents): the streamer reads its window and its memory and
writes one lesson and one plan, which enter its next observations ("Your plan: ...").

Why a JSON object with two short strings: the model writes them under a JSON-schema grammar, so the answer is
always parseable and bounded; the lesson is grounded by putting the measured effect of each remembered decision
in front of it. The text is model output: it is cleaned and cut before it is stored or shown.

Why menus for the embedded model (`reflection_format(req, menus=True)`): writing free text, SmolLM2-135M
answered "Reflection" / "Reflection_Reflection_..." in all 15 reflections of a default season, so every one was
dropped. With menus it picks one lesson among the measured effects of its own remembered moves and one plan
among the moves the arena can make, the way it takes options in a round.

Why the menus are ordered by the numbers: SmolLM2 took the first item of both menus in every reflection (the
most recent move, and "keep what raised viewers ..."), whatever the window said. So the first lesson is the
move with the largest measured effect, and the plan menu holds only the plans the window's numbers support
(stalls -> cut the load; a still picture -> animate it; the topic costing viewers -> move topic; a move that
raised viewers -> repeat it and spend spare device time), most pressing first, and "stay the course".
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from common.untrusted import clean_text
from crews.observation_text import stalls_text, terms_line
from tools.observation import Recollection, ReflectionRequest

LESSON_CHARS = 90
PLAN_CHARS = 90


class Reflection(BaseModel):
    lesson: str = Field(min_length=3, max_length=LESSON_CHARS, description="what raised or lost viewers")
    plan: str = Field(min_length=3, max_length=PLAN_CHARS, description="what to do next rounds")


# Each plan starts with its own verb: when three began with "keep", SmolLM2 answered a "keep" plan even with
# "cut the load" first on the menu (its first token carried the three plans' probability).
KEEP_WHAT_WORKED = "repeat what raised viewers and spend spare device time"
MOVE_TOPIC = "move to the topic viewers want most"
CUT_LOAD = "cut the load until the stalls stop"
KEEP_MOVING = "animate the picture in my own style"
AS_NOW = "stay the course"
PLANS = (KEEP_WHAT_WORKED, MOVE_TOPIC, CUT_LOAD, KEEP_MOVING, AS_NOW)
COSTLY_TERM = -0.3  # a term that cost at least this many utils is worth a plan of its own


def _effect(m: Recollection) -> float:
    """A move's measured effect on viewers, relative to where they were."""
    return (m.viewers_after - m.viewers_before) / max(m.viewers_before, 1.0)


def lessons(req: ReflectionRequest) -> list[str]:
    """One lesson per remembered move, from its measured effect ("fps=16 raised viewers, 1492 to 1554"), the
    largest effect first, up or down (a small model takes the first choice; ties: the most recent first); a
    move made before the stream had viewers (round 1: from 0) says nothing about its effect and is left out
    while others exist."""
    out = []
    moves = [m for m in reversed(req.memory) if m.did != "nothing"]
    measured = [m for m in moves if m.viewers_before > 0] or moves
    for m in sorted(measured, key=lambda m: -abs(_effect(m))):  # stable: the most recent first among equals
        went = (
            "raised" if m.viewers_after > m.viewers_before else "lost" if m.viewers_after < m.viewers_before else "kept"
        )
        out.append(clean_text(f"{m.did} {went} viewers, {m.viewers_before:.0f} to {m.viewers_after:.0f}", LESSON_CHARS))
    return list(dict.fromkeys(out)) or ["doing nothing kept me where I was"]


def plans(req: ReflectionRequest) -> list[str]:
    """The plans the window's last round supports, most pressing first (stalls, a still picture, the topic
    costing viewers, a remembered move that raised viewers), then "stay the course", always offered. Only the
    supported ones: with every plan on the menu, SmolLM2 answered "repeat what raised viewers ..." for windows
    whose numbers pointed to the topic or a still picture, even with that plan first."""
    terms = req.ern_terms
    supported = [
        (CUT_LOAD, req.stall_seconds > 0 or terms.get("stall", 0.0) <= COSTLY_TERM),
        (KEEP_MOVING, terms.get("boredom", 0.0) <= COSTLY_TERM),
        (MOVE_TOPIC, terms.get("topic", 0.0) <= COSTLY_TERM),
        (KEEP_WHAT_WORKED, any(_effect(m) > 0 and m.viewers_before > 0 for m in req.memory if m.did != "nothing")),
    ]
    return [p for p, ok in supported if ok] + [AS_NOW]


def reflection_format(req: ReflectionRequest, menus: bool = False) -> dict[str, Any]:
    """Free text (a capable model), or with `menus` the lesson and plan as choices (the embedded model)."""
    schema = Reflection.model_json_schema()
    if menus:
        schema = {
            "type": "object",
            "properties": {"lesson": {"enum": lessons(req)}, "plan": {"enum": plans(req)}},
            "required": ["lesson", "plan"],
            "additionalProperties": False,
        }
    return {"type": "json_schema", "json_schema": {"name": "reflection", "schema": schema, "strict": True}}


def reflection_messages(req: ReflectionRequest) -> list[dict[str, str]]:
    """System: who the streamer is; user: the window's result and the remembered effects of its moves."""
    memory = "; ".join(
        f"round {m.round}: {m.did} -> viewers {m.viewers_before:.0f} to {m.viewers_after:.0f}" for m in req.memory
    )
    rank = f"rank {req.rank} of {req.streamers}" if req.rank else "unranked"
    why = terms_line(req.ern_terms, k=3, digits=1)
    user = (
        f"The relegation vote after round {req.round} is over: you averaged {req.window_ern:.0f} viewers, {rank}.\n"
        f"Last round: {stalls_text(req.stall_seconds)}; why viewers came or left: {why}.\n"
        f"What you did: {memory or 'nothing recorded'}.\n"
        + (f"Your previous plan: {clean_text(req.previous, 160)}\n" if req.previous else "")
        + "Write one lesson (which move raised or lost viewers) and one plan for the next rounds, as JSON."
    )
    system = clean_text(f"You are {req.name}, {req.character}. {req.survival_motive}", 400)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


ECHOES = ("reflection", "lesson", "plan")  # the schema's own words: a small model copies them as its answer


def degenerate(field: str) -> bool:
    """A field that echoes the schema or loops (a word of 4+ letters three times): SmolLM2-135M wrote
    "Reflection_Reflection_..." and "of the 5th round of the 5th round ..." in the default season."""
    words = re.findall(r"[a-z]{4,}", field.lower())
    return any(w in ECHOES for w in words) or any(words.count(w) >= 3 for w in set(words))


def parse_reflection(text: Any) -> str:
    """The model's JSON as one line ("lesson. Plan: plan"), or "" when it is not a valid reflection (not
    JSON, a field missing, or a degenerate field: then the streamer keeps its previous reflection)."""
    if not isinstance(text, str):
        return ""
    try:
        r = Reflection.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return ""
    lesson, plan = clean_text(r.lesson, LESSON_CHARS).rstrip("."), clean_text(r.plan, PLAN_CHARS)
    if not lesson or not plan or degenerate(lesson) or degenerate(plan):
        return ""
    return f"{lesson}. Plan: {plan}"
