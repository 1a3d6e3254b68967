"""Persona fields written by an LLM: completion at spawn, and Promptbreeder-style mutation at respawn.

Why structured output: a persona crosses a seam (it is stored, prompted, shown in the TUI), so whatever
the model writes is parsed as JSON and validated (`agents.persona_schema`: shape, menus, and coherence from
`agents.persona_checks`) before it is used — an LLM answer is untrusted input like any other. Why two
answers per persona and menus for the visual style: see `agents.persona_schema`. Why a retry with the
validation error, then a fallback: a small model sometimes fails; told what was wrong it usually fixes it,
and the season must go on, so after `retries` failed retries the offline completion is used and the failure
is reported (the caller logs it as an event that says the fallback was taken).

Why the LLM is injected as `Complete` rather than imported: `agents` depends on nothing above it; the arena
hands in a function built from `crews` (which records the call for the event log and for replay).
Promptbreeder / EvoPrompt (docs/facts.md): an LLM as the mutation operator on prompts works.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agents.mutation import unique_name
from agents.persona import Persona
from agents.persona_checks import ARTICLES, STYLE_FIELDS, changed_fields, repeated_fields
from agents.persona_schema import STORY_OPENERS, Identity, Story, opener, parse, response_format
from agents.scenes import CHARACTERS, GOALS, MOTIVES, PALETTES, SCENES, VOICES, ranked, split_style
from agents.story_repair import repaired, tidied

# complete(messages, response_format) -> the model's text answer (raises on transport errors)
Complete = Callable[[list[dict[str, str]], dict[str, Any]], str]

TEXT_FIELDS = ("name", "character", "backstory", "visual_style", "voice", "survival_motive")
CHECKED = ("name", "character", "backstory", "visual_style", "survival_motive", "goals")  # voice: from a menu
SYSTEM = "You invent characters for a live video streaming contest. Answer with one JSON object only."


@dataclass
class PersonaResult:
    persona: Persona
    ok: bool  # False: an answer failed every attempt and the fallback was used
    attempts: int
    errors: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)


def _why(exc: Exception) -> str:
    """One short line the model can act on (pydantic's first line only names the model)."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:2]]
        return "; ".join(parts)[:240]
    return str(exc).splitlines()[0][:240] if str(exc) else type(exc).__name__


def _ask(
    complete: Complete,
    prompt: str,
    model: type[Identity] | type[Story],
    menus: dict[str, list[str]],
    retries: int,
    check: Callable[[Any], None] | None = None,
    question: str = "Answer again with only the JSON object.",
) -> tuple[Any, int, list[str]]:
    """(the validated answer or None, calls made, errors). An invalid answer is asked again with the reason,
    then `question` (the story asks its question again: a bare "answer again" left the model without one).

    A story asked again must start with an opener it has not tried (`_openers`): told what it copied, the
    small model wrote the same sentence again from the same opener. When every story failed only the
    coherence check, its last answers are repaired if they can be, and an accepted backstory that the grammar
    cut at its length cap ends at its last whole clause (`agents.story_repair`)."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    errors: list[str] = []
    incoherent: list[Any] = []  # parsed answers that failed `check`, in order
    for attempt in range(1, retries + 2):
        try:
            text = complete(messages, response_format(model, menus, _openers(incoherent)))
        except Exception as exc:  # transport / provider error: the same question again
            errors.append(f"{model.__name__} attempt {attempt}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        answer = None
        try:
            answer = parse(model, text, menus)
            if check is not None:
                check(answer)
            if isinstance(answer, Story):
                answer = tidied(answer, menus, check or (lambda _: None))
            return answer, attempt, errors
        except (ValueError, TypeError) as exc:  # bad JSON, schema, menu or coherence: say why, ask again
            if answer is not None:
                incoherent.append(answer)
            menus = _without_repeats(menus, text)
            why = _why(exc)
            errors.append(f"{model.__name__} attempt {attempt}: invalid answer: {why}")
            messages = [
                *messages,
                {"role": "user", "content": f"That answer was invalid: {why}. {question}"},
            ]
    if model is Story and check is not None:
        for answer in reversed(incoherent):
            if (fixed := repaired(answer, menus, check)) is not None:
                errors.append(f"Story repaired: kept {fixed.backstory!r} of {answer.backstory!r}")
                return fixed, retries + 1, errors
    return None, retries + 1, errors


def _without_repeats(menus: dict[str, list[str]], text: str) -> dict[str, list[str]]:
    """`menus` without the character words an answer picked more than once. The small model picked one word
    two or three times in every answer to the same question ("precise", "precise", "precise"; the grammar
    cannot ask for distinct items: llguidance does not implement uniqueItems), so it is not offered again."""
    try:
        picked = json.loads(text).get("traits")
    except (ValueError, AttributeError):
        return menus
    if not isinstance(picked, list) or "traits" not in menus:
        return menus
    twice = {w for w in picked if isinstance(w, str) and picked.count(w) > 1}
    left = [w for w in menus["traits"] if w not in twice]
    return menus | {"traits": left} if twice and len(left) >= 2 else menus


def _clear_of(identity: Identity, menus: dict[str, list[str]]) -> dict[str, list[str]]:
    """The story's menus without the choices that would repeat the identity already written (a goal "ride
    every trending wave" for "The Wave"): a story retry cannot change the name, so such a pick failed every
    attempt. A menu that would be left empty is kept whole."""
    mine = {"name": identity.name, "character": identity.character, "visual_style": identity.visual_style}
    out = {}
    for key, menu in menus.items():
        clear = [e for e in menu if not any(key in pair for pair in repeated_fields(mine | {key: e}))]
        out[key] = clear or menu
    return out


def _openers(incoherent: list[Any]) -> list[str]:
    """The story openers not yet tried by a refused answer (all of them when every one was)."""
    tried = {opener(a.backstory) for a in incoherent if isinstance(a, Story)}
    return [o for o in STORY_OPENERS if o not in tried] or list(STORY_OPENERS)


def _fields(p: Persona) -> dict[str, Any]:
    return {k: getattr(p, k) for k in (*TEXT_FIELDS, "goals")}


def _apply(base: Persona, identity: Identity, story: Story | None, keep: set[str]) -> Persona:
    """`base` with the answers' fields, except those in `keep` (the user's own)."""
    new: dict[str, Any] = {
        "name": identity.name,
        "character": identity.character,
        "visual_style": identity.visual_style,
    }
    if story is not None:
        new |= {
            "backstory": story.backstory,
            "voice": story.voice,
            "goals": list(story.goals),
            "survival_motive": story.survival_motive,
        }
    return base.model_copy(
        update={k: " ".join(v.split()) if isinstance(v, str) else v for k, v in new.items() if k not in keep}
    )


def _coherent(make: Callable[[Story], Persona], keep: set[str]) -> Callable[[Story], None]:
    """A check of the whole persona the story completes: no field repeats another (pairs of given fields,
    which the model cannot change, are not held against it). A backstory that repeats a field is told which
    field and which of its words not to reuse (`copied_words`): told only "fields repeat each other", the
    small model wrote the same copy again."""

    def check(story: Story) -> None:
        p = make(story)
        fields = {k: getattr(p, k) for k in CHECKED}
        pairs = repeated_fields(fields)
        pairs = [x for x in pairs if not all(side.strip().split("[")[0] in keep for side in x.split(" = "))]
        if pairs:
            avoid = copied_words(fields, pairs)
            tail = f"; the backstory must not use the words: {', '.join(avoid)}" if avoid else ""
            raise ValueError(f"fields repeat each other ({', '.join(pairs)}); every field must say something new{tail}")

    return check


def copied_words(fields: dict[str, Any], pairs: list[str], limit: int = 8) -> list[str]:
    """The words of the fields the backstory repeats (in `pairs`, 'name = backstory'), articles left out."""
    out: list[str] = []
    for pair in pairs:
        sides = [side.strip() for side in pair.split(" = ")]
        if "backstory" not in sides:
            continue
        other = next(side for side in sides if side != "backstory")
        key, _, index = other.partition("[")
        value = fields.get(key)
        text = value[int(index.rstrip("]"))] if isinstance(value, list) else value
        out += [w for w in re.findall(r"[a-z]+", str(text or "").lower()) if w not in ARTICLES and w not in out]
    return out[:limit]


def _story_prompt(seed: str, identity: Identity, extra: str = "") -> str:
    """No wording the model could copy into a field: it copied instructions like 'its past, one sentence'."""
    return (
        f"Streamer idea: {seed}\nName: {identity.name}. Character: {identity.character} "
        f"Stream: {identity.visual_style}.{extra}\n{_story_question(identity)}"
    )


def _story_question(identity: Identity) -> str:
    return f"What happened to {identity.name} before streaming?"


def complete_with_llm(persona: Persona, complete: Complete, taken: set[str], retries: int = 1) -> PersonaResult:
    """Fill the missing fields of `persona`; given fields are kept as written. Falls back to the offline
    completion (with whatever identity the model did write) after `retries` failed retries of an answer."""
    keep = {k for k in (*TEXT_FIELDS, "goals") if getattr(persona, k) not in (None, "", [])}
    given = {k: getattr(persona, k) for k in keep}
    decided = f"\nAlready decided (keep it): {json.dumps(given)}" if given else ""
    seed = persona.seed
    menus1 = {
        "traits": ranked(CHARACTERS, seed, n=8),
        "scene": ranked(SCENES, seed),
        "palette": ranked(PALETTES, seed),
    }
    prompt1 = f"Streamer idea: {seed}{decided}\nInvent this streamer: a stage name, its character and its stream."
    identity, n1, errors = _ask(complete, prompt1, Identity, menus1, retries)
    if identity is None:
        return _fallback(persona, persona, taken, n1, errors)
    menus2 = {
        "voice": ranked(VOICES, f"{seed} {identity.character}"),
        "goals": ranked(GOALS, seed),
        "survival_motive": ranked(MOTIVES, seed),
    }
    menus2 = _clear_of(identity, menus2)
    check = _coherent(lambda s: _apply(persona, identity, s, keep), keep)
    story, n2, errors2 = _ask(
        complete, _story_prompt(seed, identity), Story, menus2, retries, check, _story_question(identity)
    )
    errors += errors2
    if story is None:
        return _fallback(persona, _apply(persona, identity, None, keep), taken, n1 + n2, errors)
    out = Persona.model_validate(_apply(persona, identity, story, keep).model_dump())
    out = out.model_copy(update={"name": unique_name(out.display_name, taken)})
    changes = [{"field": k, "new": getattr(out, k), "how": "llm"} for k in (*TEXT_FIELDS, "goals") if k not in keep]
    return PersonaResult(out, True, n1 + n2, errors, changes)


def _fallback(persona: Persona, partial: Persona, taken: set[str], attempts: int, errors: list[str]) -> PersonaResult:
    out = partial.complete_offline()
    return PersonaResult(out.model_copy(update={"name": unique_name(out.display_name, taken)}), False, attempts, errors)


def mutate_with_llm(parent: Persona, complete: Complete, taken: set[str], retries: int = 1) -> PersonaResult:
    """Promptbreeder-style: ask the LLM for a successor of `parent` (same seed and traits; the numeric traits
    are perturbed separately by PBT) with a new name, character, scene, palette and goals. The menus leave out
    the parent's scene, palette and goals, so the child's stream looks different; a child that differs only
    in name is refused. On failure the parent is returned unchanged with ok=False."""
    seed = parent.seed
    old_scene, old_palette = split_style(parent.visual_style)
    style_words = {p.strip() for p in (parent.visual_style or "").split(",")}
    old_words = {w for w in CHARACTERS if w in (parent.character or "").lower()}
    menus1 = {
        "traits": ranked(CHARACTERS, f"{seed} {parent.display_name}", exclude=old_words, n=8),
        "scene": ranked(SCENES, seed, exclude=style_words | {old_scene or ""}),
        "palette": ranked(PALETTES, f"{seed} {parent.display_name}", exclude={old_palette or ""}),
    }
    prompt1 = (
        f"Streamer idea: {seed}\nThis streamer did well: {parent.display_name}. {parent.character} Stream: "
        f"{parent.visual_style}.\nInvent its successor, with a new name, character and stream."
    )
    identity, n1, errors = _ask(complete, prompt1, Identity, menus1, retries)
    if identity is None:
        return PersonaResult(parent, False, n1, errors)
    menus2 = {
        "voice": ranked(VOICES, identity.character, exclude={parent.voice or ""}),
        "goals": ranked(GOALS, seed, exclude=set(parent.goals)),
        "survival_motive": ranked(MOTIVES, identity.name, exclude={parent.survival_motive or ""}),
    }
    menus2 = _clear_of(identity, menus2)

    def check(story: Story) -> None:
        _coherent(lambda s: _apply(parent, identity, s, set()), set())(story)
        child = _apply(parent, identity, story, set())
        if not changed_fields(_fields(parent), _fields(child), STYLE_FIELDS):
            raise ValueError("the successor must change its visual style, goals or character, not only its name")

    story, n2, errors2 = _ask(
        complete, _story_prompt(seed, identity), Story, menus2, retries, check, _story_question(identity)
    )
    errors += errors2
    if story is None:
        return PersonaResult(parent, False, n1 + n2, errors)
    child = Persona.model_validate(_apply(parent, identity, story, set()).model_dump())
    child = child.model_copy(update={"name": unique_name(child.display_name, taken)})
    changes = [
        {"field": k, "old": getattr(parent, k), "new": getattr(child, k), "how": "llm-mutation"}
        for k in (*TEXT_FIELDS, "goals")
        if getattr(parent, k) != getattr(child, k)
    ]
    return PersonaResult(child, True, n1 + n2, errors, changes)
