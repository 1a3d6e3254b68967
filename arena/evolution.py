"""Relegation and respawn: Population-Based Training's truncation selection, league style.

At a relegation window the bottom `fraction` (at least one) by mean ERN over the window is relegated. Each
slot is refilled either fresh from the persona pool (probability `fresh_probability`) or by PBT exploit +
explore (Jaderberg et al. 2017, docs/facts.md): copy the persona and settings of a uniformly chosen member of the
top `top_fraction`, then perturb every continuous setting by x0.8 or x1.2, move categorical/integer ones to a
neighbour, or resample any of them from its prior with probability `resample_probability` (Ray Tune's
defaults). Every copy and perturbation is returned so the arena can log it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.mutation import mutate_persona, unique_name
from agents.persona import Persona
from arena.rules import relegation_count, window_order
from media.settings import GeneratorLimits, StreamSettings


@dataclass
class Candidate:
    streamer_id: int
    name: str
    persona: Persona
    settings: StreamSettings
    window_ern: float
    rating_ordinal: float


@dataclass
class SpawnPlan:
    persona: Persona
    settings: StreamSettings
    parent_id: int | None
    origin: str  # exploit | fresh
    replaces: int
    mutations: list[dict[str, Any]] = field(default_factory=list)


def rank_by_window(cands: list[Candidate]) -> list[Candidate]:
    by_id = {c.streamer_id: c for c in cands}
    window = {i: c.window_ern for i, c in by_id.items()}
    ordinal = {i: c.rating_ordinal for i, c in by_id.items()}
    return [by_id[i] for i in window_order(by_id, window, ordinal)]


def select_relegated(cands: list[Candidate], fraction: float) -> list[Candidate]:
    """The window's relegation zone (`arena.rules.relegation_zone`), as candidates."""
    n = relegation_count(len(cands), fraction)
    return rank_by_window(cands)[-n:] if n else []


def select_parents(cands: list[Candidate], top_fraction: float, relegated: list[Candidate]) -> list[Candidate]:
    gone = {c.streamer_id for c in relegated}
    ranked = [c for c in rank_by_window(cands) if c.streamer_id not in gone]
    n = max(1, math.ceil(len(cands) * top_fraction))
    return ranked[:n]


def explore_settings(
    s: StreamSettings, limits: GeneratorLimits, rng: np.random.Generator, resample_p: float
) -> tuple[StreamSettings, list[dict[str, Any]]]:
    changes: list[dict[str, Any]] = []
    new: dict[str, Any] = {}

    def log(name: str, old: Any, value: Any, how: str) -> None:
        new[name] = value
        changes.append({"field": f"settings.{name}", "old": old, "new": value, "how": how})

    def cont(name: str, lo: float, hi: float) -> None:
        old = getattr(s, name)
        if rng.random() < resample_p:
            log(name, old, round(float(rng.uniform(lo, hi)), 4), "resample")
        else:
            f = (0.8, 1.2)[int(rng.integers(2))]
            log(name, old, round(float(np.clip(old * f, lo, hi)), 4), f"x{f}")

    def neighbour(name: str, choices: list[int]) -> None:
        old = getattr(s, name)
        if rng.random() < resample_p:
            log(name, old, int(rng.choice(choices)), "resample")
            return
        i = choices.index(old) if old in choices else 0
        j = int(np.clip(i + (-1, 1)[int(rng.integers(2))], 0, len(choices) - 1))
        log(name, old, choices[j], "neighbour")

    cont("fps", limits.fps_min, limits.fps_max)
    cont("strength", limits.strength_min, limits.strength_max)
    neighbour("steps", list(range(limits.steps_min, limits.steps_max + 1)))
    neighbour("resolution", list(limits.resolutions))
    log("seed", s.seed, int(rng.integers(0, 2**31 - 1)), "resample")
    return s.model_copy(update=new), changes


def plan_respawns(
    cands: list[Candidate],
    relegated: list[Candidate],
    pool: list[Persona],
    default_settings: StreamSettings,
    limits: GeneratorLimits,
    rng: np.random.Generator,
    *,
    top_fraction: float,
    fresh_probability: float,
    resample_probability: float,
    taken_names: set[str],
) -> list[SpawnPlan]:
    parents = select_parents(cands, top_fraction, relegated)
    plans = []
    taken = set(taken_names)
    for gone in relegated:
        if pool and rng.random() < fresh_probability:
            base = pool[int(rng.integers(len(pool)))]
            persona = base.complete_offline()
            name = unique_name(persona.display_name, taken)
            persona = persona.model_copy(update={"name": name})
            settings = default_settings.model_copy(
                update={"prompt": persona.scene_prompt(), "seed": int(rng.integers(0, 2**31 - 1))}
            )
            plans.append(
                SpawnPlan(
                    persona,
                    settings,
                    None,
                    "fresh",
                    gone.streamer_id,
                    [{"field": "persona", "how": "fresh", "new": name}],
                )
            )
        else:
            parent = parents[int(rng.integers(len(parents)))]
            persona, p_changes = mutate_persona(parent.persona, rng, taken)
            settings, s_changes = explore_settings(parent.settings, limits, rng, resample_probability)
            copy = {"field": "copy", "how": "exploit", "from": parent.streamer_id, "from_name": parent.name}
            plans.append(
                SpawnPlan(
                    persona, settings, parent.streamer_id, "exploit", gone.streamer_id, [copy, *p_changes, *s_changes]
                )
            )
        taken.add(plans[-1].persona.display_name)
    return plans
