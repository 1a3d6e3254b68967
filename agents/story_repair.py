"""Deterministic repairs of a backstory: one that repeats another field, used only when every asked answer
failed, and one the grammar cut at its length cap.

Why: the embedded 135M model often starts a backstory well ("Spent years on the reef") and then runs on into
a copy of its stream or its survival motive ("..., a fish, deep blue, and white, the drummer who streams
fish."); told which words not to reuse it wrote the same copy again (bench/personas.py), and the spawn fell
back to the offline filler. The clauses before the copy are the model's own sentence, so the answer is kept
up to a comma, when that still reads as a sentence (`MIN_WORDS` words, not ending on a function word) and the
whole persona then passes the same validation and coherence checks as any answer: nothing that repeats a
field gets through. The same cut tidies an accepted backstory that ran into the grammar's length cap (a third
of them: "... and the people are a mix of."), when a shorter one passes the checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agents.persona_schema import Story, capped

MIN_WORDS = 4  # "Worked on snowy mountains." is a sentence; "Lived in." is not (modelling choice)
DANGLING = {"a", "an", "the", "of", "and", "or", "but", "to", "in", "on", "at", "by", "for", "with", "from", "as"}


def clause_prefixes(backstory: str) -> list[str]:
    """The backstory cut after each of its commas, longest first, as sentences that read as one."""
    parts = backstory.rstrip(" ,.").split(",")
    out = []
    for k in range(len(parts) - 1, 0, -1):
        text = ",".join(parts[:k]).strip(" ,")
        words = re.findall(r"[A-Za-z'-]+", text)
        if len(words) >= MIN_WORDS and words[-1].lower() not in DANGLING:
            out.append(f"{text}.")
    return out


def repaired(story: Story, menus: dict[str, list[str]], check: Callable[[Story], None]) -> Story | None:
    """The longest clause prefix of `story`'s backstory whose answer validates and passes `check`, or None."""
    for text in clause_prefixes(story.backstory):
        try:
            candidate = Story.model_validate(story.model_dump() | {"backstory": text}, context=menus)
            check(candidate)
        except (ValueError, TypeError):
            continue
        return candidate
    return None


def tidied(story: Story, menus: dict[str, list[str]], check: Callable[[Story], None]) -> Story:
    """`story` with a backstory cut at the length cap ended at its last whole clause that passes `check`
    (unchanged when it was not cut, or when no shorter one passes)."""
    if not capped(story.backstory):
        return story
    return repaired(story, menus, check) or story
