"""Is a persona coherent? Checks that a schema cannot express.

Why: the grammar makes an LLM answer valid JSON of the right shape, but the embedded 135M model then writes
one sentence into every field ("The story of a poet who has been stuck in the window." as backstory, voice,
motive and goal) or names the persona after its character, and its "mutations" only rename. These checks
turn such answers into validation errors, which are shown to the model for one more try before the offline
fallback is used. They also measure the same things in `bench/personas.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import combinations

SIMILAR = 0.6  # word-set Jaccard at or above which two fields count as the same text (modelling choice)
ARTICLES = {"the", "a", "an", "of", "and"}
STYLE_FIELDS = ("visual_style", "goals", "character")  # a mutation must change one of these


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def same_text(a: str, b: str) -> bool:
    """Equal after normalising, one inside the other, or mostly the same words."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return False
    na, nb = " ".join(sorted(wa)), " ".join(sorted(wb))
    if na == nb:
        return True
    ta, tb = " ".join(re.findall(r"[a-z0-9]+", a.lower())), " ".join(re.findall(r"[a-z0-9]+", b.lower()))
    if len(wa) > 2 and len(wb) > 2 and (ta in tb or tb in ta):
        return True
    return len(wa & wb) / len(wa | wb) >= SIMILAR


def repeated_fields(fields: Mapping[str, str | Sequence[str] | None]) -> list[str]:
    """Pairs of fields with the same text ('backstory = voice'); goals count one by one. Empty: coherent.
    A name repeats a field with the same words, or a short field (a few character words) that holds all of
    its words ("The Rain" / "the rain", "Gruff Playful" / "playful and gruff"); a name inside a sentence is
    fine."""
    texts: list[tuple[str, str]] = []
    for key, value in fields.items():
        if isinstance(value, str):
            texts.append((key, value))
        elif value:
            texts.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
    out = []
    for (ka, a), (kb, b) in combinations(texts, 2):
        if "name" in (ka, kb):
            name, other = (words(a), words(b)) if ka == "name" else (words(b), words(a))
            name, other = name - ARTICLES, other - ARTICLES
            if name and (name == other or (len(other) <= 4 and name <= other)):
                out.append(f"{ka} = {kb}")
            continue
        if same_text(a, b):
            out.append(f"{ka} = {kb}")
    return out


def changed_fields(parent: Mapping[str, object], child: Mapping[str, object], keys: Sequence[str]) -> list[str]:
    """The keys whose value differs between two personas' fields (texts compared as `same_text`)."""
    out = []
    for k in keys:
        a, b = parent.get(k), child.get(k)
        if isinstance(a, str) and isinstance(b, str):
            if not same_text(a, b) and a.strip().lower() != b.strip().lower():
                out.append(k)
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b) or any(not same_text(x, y) for x, y in zip(a, b, strict=False)):
                out.append(k)
        elif a != b:
            out.append(k)
    return out
