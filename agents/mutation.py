"""Mutation of personas for respawn (the 'explore' half of PBT) and unique naming within a season.

Numeric traits follow Ray Tune's PBT defaults quoted in docs/facts.md: each value is resampled from its prior with
probability 0.25, otherwise multiplied by 0.8 or 1.2 (clamped to 0..1). The LLM rewrite of the text fields
(Promptbreeder-style) belongs to the agents issue and plugs in here.
"""

from __future__ import annotations

import numpy as np

from agents.persona import Persona, Traits

RESAMPLE_PROBABILITY = 0.25  # Ray Tune PBT default (docs/facts.md)
PERTURB_FACTORS = (0.8, 1.2)  # Jaderberg et al. 2017 / Ray Tune (docs/facts.md)


def mutate_traits(traits: Traits, rng: np.random.Generator) -> tuple[Traits, list[dict]]:
    """Return perturbed traits and a log entry per changed value."""
    values = traits.model_dump()
    changes = []
    for key, old in values.items():
        if rng.random() < RESAMPLE_PROBABILITY:
            new = float(rng.random())
            how = "resample"
        else:
            factor = PERTURB_FACTORS[int(rng.integers(2))]
            new = float(np.clip(old * factor, 0.0, 1.0))
            how = f"x{factor}"
        values[key] = round(new, 4)
        changes.append({"field": f"traits.{key}", "old": old, "new": values[key], "how": how})
    return Traits(**values), changes


def unique_name(base: str, taken: set[str]) -> str:
    """`base` if free, else `base II`, `base III`, ... (league style)."""
    stem = base
    for suffix in (" II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if base not in taken:
        return base
    n = 2
    while True:
        candidate = f"{stem} {_roman(n)}"
        if candidate not in taken:
            return candidate
        n += 1


def _roman(n: int) -> str:
    table = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ]
    out = []
    for value, letters in table:
        while n >= value:
            out.append(letters)
            n -= value
    return "".join(out)


def mutate_persona(parent: Persona, rng: np.random.Generator, taken_names: set[str]) -> tuple[Persona, list[dict]]:
    traits, changes = mutate_traits(parent.traits, rng)
    name = unique_name(parent.display_name, taken_names)
    changes.append({"field": "name", "old": parent.display_name, "new": name, "how": "unique"})
    return parent.model_copy(update={"traits": traits, "name": name}), changes
