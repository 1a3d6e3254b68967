"""LLM completion and mutation of personas: structured output validated against the persona model, retries,
then a reported fallback; unique names. The first tests inject a plain function as the model (unit tests of
the persona code); the last goes through the real crewai LLM path with a scripted litellm provider."""

from __future__ import annotations

import json

import pytest

from agents.llm_persona import PersonaFields, complete_with_llm, mutate_with_llm
from agents.persona import Persona

GOOD = {
    "name": "Storm Granny",
    "character": "Gruff and warm",
    "backstory": "Kept a light for forty years.",
    "visual_style": "stormy sea at night, lighthouse beam",
    "voice": "low and slow",
    "goals": ["make the storm the show"],
    "survival_motive": "the lamp stays lit while people watch",
}


def answers(*texts):
    seen = []

    def complete(messages, response_format):
        seen.append((messages, response_format))
        out = texts[min(len(seen) - 1, len(texts) - 1)]
        if isinstance(out, Exception):
            raise out
        return out

    complete.seen = seen
    return complete


def test_missing_fields_are_generated_and_given_ones_kept():
    seed = Persona(seed="a retired lighthouse keeper who streams storms", character="Silent type.")
    llm = answers(json.dumps(GOOD))
    res = complete_with_llm(seed, llm, taken=set())
    assert res.ok and res.attempts == 1 and res.persona.is_complete()
    assert res.persona.character == "Silent type." and res.persona.name == "Storm Granny"
    assert {c["field"] for c in res.changes} == {
        "name",
        "backstory",
        "visual_style",
        "voice",
        "goals",
        "survival_motive",
    }
    rf = llm.seen[0][1]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == PersonaFields.model_json_schema()
    assert "lighthouse keeper" in llm.seen[0][0][-1]["content"]


def test_invalid_answers_are_retried_then_fall_back_offline_with_a_reason():
    seed = Persona(seed="a desert nomad who streams sunsets")
    too_long = dict(GOOD, name="N" * 500)
    llm = answers("not json at all", json.dumps(too_long), RuntimeError("model offline"))
    res = complete_with_llm(seed, llm, taken={"Desert Nomad"}, retries=2)
    assert not res.ok and res.attempts == 3 and len(llm.seen) == 3
    assert "invalid answer" in res.errors[0] and "model offline" in res.errors[2]
    assert res.persona == seed.complete_offline().model_copy(update={"name": "Desert Nomad II"})
    # the retry told the model what was wrong
    assert "invalid" in llm.seen[1][0][-1]["content"]


def test_a_retry_can_succeed():
    res = complete_with_llm(Persona(seed="a rain poet"), answers("{", json.dumps(GOOD)), taken=set(), retries=1)
    assert res.ok and res.attempts == 2 and res.persona.name == "Storm Granny"


def test_names_stay_unique():
    res = complete_with_llm(Persona(seed="a rain poet"), answers(json.dumps(GOOD)), taken={"Storm Granny"})
    assert res.persona.name == "Storm Granny II"


def test_mutation_rewrites_the_persona_and_records_what_changed():
    parent = Persona(seed="a retired lighthouse keeper who streams storms", **GOOD)
    child_fields = dict(
        GOOD, name="Storm Granny", visual_style="aurora over a frozen harbour", goals=["chase the aurora"]
    )
    res = mutate_with_llm(parent, answers(json.dumps(child_fields)), taken={"Storm Granny"})
    assert res.ok and res.persona.name == "Storm Granny II" and res.persona.seed == parent.seed
    assert res.persona.traits == parent.traits
    changed = {c["field"]: c for c in res.changes}
    assert set(changed) == {"name", "visual_style", "goals"}
    assert changed["visual_style"]["old"] == GOOD["visual_style"] and changed["visual_style"]["how"] == "llm-mutation"


def test_failed_mutation_keeps_the_parent_and_says_so():
    parent = Persona(seed="a pyro", **GOOD)
    res = mutate_with_llm(parent, answers("[]"), taken=set(), retries=0)
    assert not res.ok and res.persona == parent and res.errors


def test_through_crewai_llm_with_a_scripted_provider():
    from crews.llm_config import LLMSection
    from crews.llm_policy import LLMPolicy
    from tests.crews.scripted import install

    handler = install(lambda messages, tools, meta: json.dumps(GOOD))
    pol = LLMPolicy(LLMSection(model="scripted/test"))
    res = complete_with_llm(Persona(seed="a rain poet"), pol.completer("spawn0", 0, "persona"), taken=set())
    assert res.ok and res.persona.visual_style == GOOD["visual_style"]
    assert handler.requests[0]["response_format"]["type"] == "json_schema"
    [rec] = pol.drain_records()
    assert rec["purpose"] == "persona" and rec["actor"] == "spawn0" and json.loads(rec["response"]) == GOOD


def test_a_generated_name_is_a_name_not_a_sentence():
    """The default model once wrote its character line as the name; the schema (and so the grammar) refuses."""
    from pydantic import ValidationError

    good = {
        "character": "calm",
        "backstory": "keeps woods",
        "visual_style": "forest",
        "voice": "soft",
        "goals": ["rest"],
        "survival_motive": "the roof",
    }
    for name in ("Brother Moss", "Dr. Vex", "Old Beacon 2"):
        assert PersonaFields.model_validate({**good, "name": name}).name == name
    for name in ("Calm, gentle, speaks rarely and warmly.", "one two three four five", "Loud!"):
        with pytest.raises(ValidationError):
            PersonaFields.model_validate({**good, "name": name})
