"""The real embedded model (SmolLM2-135M) writes personas: coherent ones, without the offline fallback. No
stand-in anywhere but the arena; each persona is two constrained answers. It asserts behaviour (distinct
fields, a style from the scene menu, a mutation that changes the look), never speed: on a shared 2-core
machine a persona takes seconds to minutes."""

from __future__ import annotations

import pytest

import crews  # noqa: F401  (network features off before litellm is imported)
from agents.llm_persona import complete_with_llm, mutate_with_llm
from agents.persona import Persona
from agents.persona_checks import repeated_fields
from agents.scenes import SCENES, split_style

SEEDS = ("a melancholic poet who streams rain running down a window", "a desert nomad who streams slow sunsets")


@pytest.mark.timeout(900)
def test_the_embedded_model_writes_coherent_personas_and_mutations():
    from crews.llm_config import LLMSection
    from crews.llm_policy import LLMPolicy

    policy = LLMPolicy(LLMSection())
    taken: set[str] = set()
    for i, seed in enumerate(SEEDS):
        res = complete_with_llm(Persona(seed=seed), policy.completer(f"t{i}", 0, "persona"), taken, retries=1)
        p = res.persona
        assert res.ok, res.errors
        fields = {k: getattr(p, k) for k in ("name", "character", "backstory", "visual_style", "survival_motive")}
        assert not repeated_fields(fields | {"goals": p.goals}) and p.name != p.character
        assert split_style(p.visual_style)[0] in SCENES  # a renderable scene, not a sentence
        assert p.name not in taken
        taken.add(p.display_name)
    child = mutate_with_llm(p, policy.completer("t9", 1, "mutation"), taken, retries=1)
    assert child.ok, child.errors
    assert child.persona.visual_style != p.visual_style and child.persona.name not in taken
