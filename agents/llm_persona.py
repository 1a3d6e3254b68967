"""Persona fields written by an LLM: completion at spawn, and Promptbreeder-style mutation at respawn.

Why structured output: a persona crosses a seam (it is stored, prompted, shown in the TUI), so whatever
the model writes is parsed as JSON and validated against `Persona` before it is used — an LLM answer is
untrusted input like any other. Why retries then a fallback: a small model sometimes fails the schema; the
season must go on, so after `retries` failed attempts the offline completion is used and the failure is
reported (the caller logs it as an event that says the fallback was taken).

Why the LLM is injected as `Complete` rather than imported: `agents` depends on nothing above it; the arena
hands in a function built from `crews` (which records the call for the event log and for replay).
Promptbreeder / EvoPrompt (docs/facts.md): an LLM as the mutation operator on prompts works.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.mutation import unique_name
from agents.persona import Persona

# complete(messages, response_format) -> the model's text answer (raises on transport errors)
Complete = Callable[[list[dict[str, str]], dict[str, Any]], str]

NAME_PATTERN = r"^[^\s,;:!?]+( [^\s,;:!?]+){0,3}$"
TEXT_FIELDS = ("name", "character", "backstory", "visual_style", "voice", "survival_motive")


class PersonaFields(BaseModel):
    """The fields an LLM writes. Bounds are tighter than `Persona`'s so a prompt stays small."""

    model_config = ConfigDict(extra="forbid")

    # A name, not a sentence: the 135M default model once wrote its character line ("Calm, gentle, speaks
    # rarely and warmly.") as the name. 1-4 words without sentence punctuation (a period inside a word, as in
    # "Dr. Vex", is fine); the grammar enforces the pattern, so the model cannot do it again.
    name: str = Field(min_length=1, max_length=40, pattern=NAME_PATTERN, description="a short stage name, 1-4 words")
    character: str = Field(min_length=3, max_length=300, description="personality in one or two sentences")
    backstory: str = Field(min_length=3, max_length=500, description="why it streams, two sentences")
    visual_style: str = Field(min_length=3, max_length=200, description="what its stream looks like: a scene prompt")
    voice: str = Field(min_length=1, max_length=120, description="how it speaks")
    goals: list[str] = Field(min_length=1, max_length=3, description="one to three short goals")
    survival_motive: str = Field(min_length=3, max_length=300, description="why it must keep its viewers")


def response_format() -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "persona", "schema": PersonaFields.model_json_schema(), "strict": True},
    }


@dataclass
class PersonaResult:
    persona: Persona
    ok: bool  # False: every attempt failed and the fallback was used
    attempts: int
    errors: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)


def _parse(text: str) -> PersonaFields:
    text = (text or "").strip()
    if text.startswith("```"):  # a fenced answer: keep what is inside
        text = text.strip("`").removeprefix("json").strip()
    return PersonaFields.model_validate(json.loads(text))


def _clean(s: str) -> str:
    return " ".join(str(s).split())


def _ask(
    complete: Complete, messages: list[dict[str, str]], retries: int
) -> tuple[PersonaFields | None, int, list[str]]:
    errors: list[str] = []
    for attempt in range(1, retries + 2):
        try:
            return _parse(complete(messages, response_format())), attempt, errors
        except (ValidationError, ValueError, TypeError) as exc:  # bad JSON / schema: ask again, say why
            msg = str(exc).splitlines()[0][:200]
            errors.append(f"attempt {attempt}: invalid answer: {msg}")
            messages = [
                *messages,
                {
                    "role": "user",
                    "content": f"That answer was invalid ({msg}). Answer again with only the JSON object.",
                },
            ]
        except Exception as exc:  # transport / provider error
            errors.append(f"attempt {attempt}: {type(exc).__name__}: {str(exc)[:200]}")
    return None, retries + 1, errors


def complete_with_llm(persona: Persona, complete: Complete, taken: set[str], retries: int = 2) -> PersonaResult:
    """Fill the missing fields of `persona`; given fields are kept as written. Falls back to the offline
    completion after `retries` failed retries."""
    given = persona.model_dump(exclude_none=True, exclude={"traits", "seed"})
    given = {k: v for k, v in given.items() if v not in ([], "")}
    messages = [
        {
            "role": "system",
            "content": "You invent characters for a live video streaming contest. Answer with one JSON object only.",
        },
        {
            "role": "user",
            "content": f"Streamer idea: {persona.seed}\nAlready decided: {json.dumps(given)}\n"
            "Write the full persona as JSON with name, character, backstory, visual_style, "
            "voice, goals (list), survival_motive. Keep what is already decided.",
        },
    ]
    fields_, attempts, errors = _ask(complete, messages, retries)
    if fields_ is None:
        fallback = persona.complete_offline()
        fallback = fallback.model_copy(update={"name": unique_name(fallback.display_name, taken)})
        return PersonaResult(fallback, False, attempts, errors)
    out = _merge(persona, fields_, keep_given=True)
    try:
        out = Persona.model_validate(out.model_dump())
    except ValidationError as exc:
        fallback = persona.complete_offline()
        return PersonaResult(
            fallback.model_copy(update={"name": unique_name(fallback.display_name, taken)}),
            False,
            attempts,
            [*errors, f"merged persona invalid: {str(exc).splitlines()[0]}"],
        )
    out = out.model_copy(update={"name": unique_name(out.display_name, taken)})
    changes = [
        {"field": k, "new": getattr(out, k), "how": "llm"}
        for k in (*TEXT_FIELDS, "goals")
        if getattr(persona, k) in (None, [], "") and getattr(out, k) not in (None, [], "")
    ]
    return PersonaResult(out, True, attempts, errors, changes)


def _merge(base: Persona, f: PersonaFields, *, keep_given: bool) -> Persona:
    upd: dict[str, Any] = {}
    for k in TEXT_FIELDS:
        if not keep_given or getattr(base, k) in (None, ""):
            upd[k] = _clean(getattr(f, k))
    if not keep_given or not base.goals:
        upd["goals"] = [_clean(g)[:120] for g in f.goals if _clean(g)][:3] or ["hold the audience"]
    return base.model_copy(update=upd)


def mutate_with_llm(parent: Persona, complete: Complete, taken: set[str], retries: int = 2) -> PersonaResult:
    """Promptbreeder-style: ask the LLM for a variation of `parent` (same seed and traits; the numeric traits
    are perturbed separately by PBT). On failure the parent is returned unchanged with ok=False."""
    current = {k: getattr(parent, k) for k in (*TEXT_FIELDS, "goals")}
    messages = [
        {
            "role": "system",
            "content": "You evolve characters for a live video streaming contest. Answer with one JSON object only.",
        },
        {
            "role": "user",
            "content": f"This streamer did well: {json.dumps(current)}\nMutate this persona: keep its "
            "spirit, change its name, sharpen its character, try a new visual style and new "
            "goals that could win more viewers. Same JSON fields.",
        },
    ]
    fields_, attempts, errors = _ask(complete, messages, retries)
    if fields_ is None:
        return PersonaResult(parent, False, attempts, errors)
    child = _merge(parent, fields_, keep_given=False)
    try:
        child = Persona.model_validate(child.model_dump())
    except ValidationError as exc:
        return PersonaResult(parent, False, attempts, [*errors, f"mutated persona invalid: {str(exc).splitlines()[0]}"])
    child = child.model_copy(update={"name": unique_name(child.display_name, taken)})
    changes = [
        {"field": k, "old": getattr(parent, k), "new": getattr(child, k), "how": "llm-mutation"}
        for k in (*TEXT_FIELDS, "goals")
        if getattr(parent, k) != getattr(child, k)
    ]
    return PersonaResult(child, True, attempts, errors, changes)
