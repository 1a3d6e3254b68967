"""What an LLM writes for a persona, in two small answers, and how each answer is validated.

Why two answers: the whole persona as one JSON object needs about 250 tokens from the embedded model, more
than the 160 tokens a call gets (`llm.max_tokens`, sized for decisions); cut off, the constrained answer is
an error and the spawn fell back to offline filler. `Identity` (name, character, scene) and `Story`
(backstory, voice, goals, motive) each fit well inside that budget, and the second answer is written
knowing the first, which keeps a small model from writing one sentence into every field.

Why menus (enums, `agents.scenes`): the visual style must be a renderable scene, and the embedded model copies
one sentence (or the prompt's own words) into every free-text field it is given. So the scene, palette,
character words, voice, goals and survival motive are picked from menus (the grammar cannot write anything
else), and only the name, a short visual detail and the backstory are free text, each with a pattern that
admits plain words only. The menu of a request travels in the validation context, so an answer outside it
(a scripted or remote model) is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from agents.persona_checks import repeated_fields
from agents.scenes import compose_character, compose_style

# A name, not a sentence or an identifier: the 135M model wrote its character line ("Calm, gentle, speaks rarely
# and warmly.") and "The_Tempest_1989_Rebel_A-Demon" as names. 1-3 capitalised words of letters (an inner
# apostrophe, hyphen or period as in "Dr. Vex" is fine); the grammar enforces the pattern.
NAME_PATTERN = r"^[A-Z][A-Za-z'.-]{1,13}( [A-Z][A-Za-z'.-]{1,13}){0,2}$"
DETAIL_PATTERN = r"^[a-z ]{0,24}$"  # a few plain words: no sentence, no identifier
# One plain sentence: a period only at its end. With inner periods allowed the 135M model wrote the story prompt
# back as a list ("The Storm. Character. Restless and shy. Streamed storms..."), copying the name and the
# character (bench/personas.py). What is validated (a remote model may write a proper noun):
SENTENCE_PATTERN = r"^[A-Z][A-Za-z ,'-]{8,118}[.]$"
# What the grammar lets the embedded model write, stricter than what is validated (so its answers validate): a
# life event from one of these openers, then lower-case words. The model began most backstories with the
# persona's name and went on to copy its character and stream; an opener verb starts it on what happened
# instead, and lower case keeps the capitalised name out of the first words.
STORY_OPENERS = ("Grew up", "Worked", "Lived", "Spent years", "Lost", "Left", "Ran", "Once", "Used to", "Dreamed")


STORY_WORDS_MAX = 96  # characters after the opener: at most 109 in all, inside the validated 120


def story_pattern(openers: Sequence[str] = STORY_OPENERS) -> str:
    """The grammar's backstory: one of `openers`, then lower-case words and one period."""
    return rf"^({'|'.join(openers)}) [a-z ,'-]{{6,{STORY_WORDS_MAX}}}[.]$"


def capped(backstory: str) -> bool:
    """Did the grammar end this backstory at its length cap (mid-clause: "... and the people are a mix of.")?"""
    start = opener(backstory)
    return start is not None and len(backstory) >= len(start) + STORY_WORDS_MAX + 2


def opener(backstory: str) -> str | None:
    """The opener a backstory starts with (None: not one of STORY_OPENERS)."""
    return next((o for o in STORY_OPENERS if backstory.startswith(f"{o} ")), None)


STORY_PATTERN = story_pattern()
MENUS = ("traits", "scene", "palette", "voice", "goals", "survival_motive")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _on_menu(cls, v: Any, info: ValidationInfo) -> Any:
        menu = (info.context or {}).get(info.field_name) if info.field_name in MENUS else None
        for item in v if isinstance(v, list) else [v]:
            if menu is not None and item not in menu:
                raise ValueError(f"{item!r} is not one of the offered choices {menu}")
        return v


class Identity(_Answer):
    """First answer: who the streamer is and what its stream looks like."""

    name: str = Field(min_length=2, max_length=30, pattern=NAME_PATTERN)
    traits: list[str] = Field(min_length=2, max_length=3)  # character words, from a menu
    scene: str = Field(max_length=60)
    palette: str = Field(max_length=40)
    detail: str = Field("", max_length=24, pattern=DETAIL_PATTERN)

    @field_validator("traits", mode="after")
    @classmethod
    def _each_once(cls, v: list[str]) -> list[str]:
        """A word picked twice is kept once, like a goal ("theatrical", "fearless", "theatrical": asked again,
        the small model repeated a word in every answer); fewer than two different words is still refused."""
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _distinct(self) -> Identity:
        if len(set(self.traits)) < 2:
            raise ValueError("the character words must differ")
        # Checked here, not with the story: a story retry cannot fix a name that repeats the stream's style.
        mine = {"name": self.name, "character": " ".join(self.traits), "visual_style": self.visual_style}
        if repeated := [x for x in repeated_fields(mine) if x.startswith("name")]:
            raise ValueError(f"the name must not repeat the character or the stream ({', '.join(repeated)})")
        return self

    @property
    def character(self) -> str:
        return compose_character(self.traits)

    @property
    def visual_style(self) -> str:
        return compose_style(self.scene, self.palette, self.detail)


class Story(_Answer):
    """Second answer: why it streams, how it talks, what it wants."""

    backstory: str = Field(min_length=10, max_length=120, pattern=SENTENCE_PATTERN)  # the grammar: STORY_PATTERN
    voice: str = Field(max_length=40)
    goals: list[str] = Field(min_length=1, max_length=2)
    survival_motive: str = Field(max_length=80)

    @field_validator("goals", mode="after")
    @classmethod
    def _once(cls, v: list[str]) -> list[str]:
        """The small model often picks one goal twice; the repeat is dropped (asking again costs a whole call)."""
        return list(dict.fromkeys(v))


def response_format(
    model: type[_Answer], menus: dict[str, list[str]], openers: Sequence[str] = STORY_OPENERS
) -> dict[str, Any]:
    """The JSON-schema response format of `model` with this request's menus as enums (a story's backstory
    starts with one of `openers`)."""
    schema = _bare(model.model_json_schema())
    props = schema["properties"]
    for key, menu in menus.items():
        target = props[key]["items"] if props[key].get("type") == "array" else props[key]
        target.pop("maxLength", None)
        target["enum"] = list(menu)
    if model is Story:  # the grammar's stricter sentence; llguidance takes a pattern without length bounds
        props["backstory"] = {"type": "string", "pattern": story_pattern(openers)}
    return {"type": "json_schema", "json_schema": {"name": model.__name__.lower(), "schema": schema, "strict": True}}


def _bare(schema: Any) -> Any:
    """The schema without titles and descriptions: the provider shows the schema in the prompt, and the small
    model copied description text ("what it loses if nobody watches") into the answer."""
    if isinstance(schema, dict):
        return {k: _bare(v) for k, v in schema.items() if k not in ("title", "description")}
    if isinstance(schema, list):
        return [_bare(v) for v in schema]
    return schema


def parse(model: type[_Answer], text: str, menus: dict[str, list[str]]) -> Any:
    """The answer validated against `model` and the request's menus (raises ValueError / ValidationError)."""
    text = (text or "").strip()
    if text.startswith("```"):  # a fenced answer: keep what is inside
        text = text.strip("`").removeprefix("json").strip()
    return model.model_validate(json.loads(text), context=menus)
