"""The persona reaches the stream: an LLM-mutated exploit child starts with its new visual style as its prompt,
and every name a window hands out is new to the league. The model is a scripted function picking from the
menus it is offered; the spawner, PBT planning and persona code are the real ones."""

from __future__ import annotations

import json

import numpy as np

from agents.persona import Persona
from arena.config import SeasonConfig
from arena.evolution import Candidate, plan_respawns, select_relegated
from arena.spawning import Spawner
from media.settings import GeneratorLimits, StreamSettings
from policies.base import Policy


def pick_first(messages, response_format):
    """A model that picks the first offered choice and writes fields that differ from each other."""
    schema = response_format["json_schema"]["schema"]["properties"]
    menu = {k: (v.get("items") or v).get("enum", []) for k, v in schema.items()}
    if response_format["json_schema"]["name"] == "identity":
        return json.dumps(
            {"name": "Nova", "traits": menu["traits"][:2], "scene": menu["scene"][0], "palette": menu["palette"][0]}
        )
    return json.dumps(
        {
            "backstory": "Drove night trams for a decade before the first stream.",
            "voice": menu["voice"][0],
            "goals": menu["goals"][:1],
            "survival_motive": menu["survival_motive"][0],
        }
    )


class ScriptedPolicy(Policy):
    name = "llm"

    def completer(self, actor, round_number, purpose):
        return pick_first


def parents():
    styles = ["stormy sea at night, deep blue and white", "neon tunnel, magenta and cyan", "fireworks", "x"]
    return [
        Candidate(
            i,
            f"Star {i}",
            Persona(seed=f"streamer number {i}", name=f"Star {i}", character="calm", visual_style=styles[i - 1]),
            StreamSettings(prompt=f"trend prompt {i}"),
            float(i * 10),
            0.0,
        )
        for i in range(1, 5)
    ]


def test_the_exploit_child_starts_with_its_mutated_style_and_names_stay_unique():
    cands = parents()
    taken = {c.name for c in cands} | {"Nova"}  # a streamer of an earlier window already took the model's name
    gone = select_relegated(cands, 0.5)
    plans = plan_respawns(
        cands,
        gone,
        [],
        StreamSettings(),
        GeneratorLimits(),
        np.random.default_rng(0),
        top_fraction=0.25,
        fresh_probability=0.0,
        resample_probability=0.25,
        taken_names=taken,
    )
    spawner = Spawner(SeasonConfig(policy="llm"), ScriptedPolicy(), [], {})
    out = spawner._llm_plans(plans, 3, taken)
    assert len(out) == 2
    for plan in out:
        child = plan.persona
        assert plan.origin == "exploit" and child.visual_style != cands[plan.parent_id - 1].persona.visual_style
        assert child.visual_style in plan.settings.prompt  # the new look is what the stream starts with
        assert {"field": "settings.prompt", "how": "persona-style"}.items() <= plan.mutations[-1].items()
    names = [p.persona.name for p in out]
    assert len(set(names)) == len(names) and not set(names) & taken
    kinds = [kind for _, kind, _ in spawner.drain_events()]
    assert kinds == ["persona_mutated", "persona_mutated"]
