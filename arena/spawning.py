"""Who streams: the first streamers' plans, the relegation window's verdict and its replacements, and (with an
LLM policy) persona completion and mutation by the LLM.

Why here and not in the roster: these are decisions (random draws from the season's generators, LLM calls
that may fail and fall back); the roster only carries them out. Every LLM outcome becomes an event so a
season's log says which personas an LLM wrote and which fell back to the offline rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.llm_persona import PersonaResult, complete_with_llm, mutate_with_llm
from agents.mutation import mutate_persona, unique_name
from agents.persona import Persona
from arena.config import SeasonConfig
from arena.evolution import Candidate, SpawnPlan, plan_respawns, select_relegated
from arena.roster import LiveStreamer
from arena.rules import is_window_round, rounds_into_window, window_ern
from policies.base import Policy

Event = tuple[str, dict[str, Any]]


@dataclass
class Verdict:
    """A window's outcome: who goes (with the window ERN that sent them) and the plans of who replaces them."""

    relegated: list[tuple[LiveStreamer, float]] = field(default_factory=list)
    plans: list[SpawnPlan] = field(default_factory=list)


class Spawner:
    """Plans spawns for one season; `events` collects the persona LLM outcomes until the recorder takes them."""

    def __init__(self, config: SeasonConfig, policy: Policy, pool: list[Persona], rngs: dict[str, np.random.Generator]):
        self.config = config
        self.policy = policy
        self.pool = pool
        self.rngs = rngs
        self.events: list[tuple[int, str, dict[str, Any]]] = []  # (round, kind, payload)

    def drain_events(self) -> list[tuple[int, str, dict[str, Any]]]:
        events, self.events = self.events, []
        return events

    @property
    def uses_llm(self) -> bool:
        return "llm" in (self.config.policy_mix or [self.config.policy])  # only if some streamer plays llm

    # ---- the first streamers ------------------------------------------------------------------------------
    def initial_plans(self) -> list[SpawnPlan]:
        rng = self.rngs["spawn"]
        order = list(rng.permutation(len(self.pool)))
        plans: list[SpawnPlan] = []
        taken: set[str] = set()
        for k in range(self.config.streamers):
            base = self._complete_persona(self.pool[order[k % len(self.pool)]], f"spawn{k}", 0, taken)
            if k < len(self.pool):
                persona = base.model_copy(update={"name": unique_name(base.display_name, taken)})
                changes: list[dict] = []
            else:  # more streamers than personas: mutated copies, as a respawn would make
                persona, changes = mutate_persona(base, rng, taken)
            taken.add(persona.display_name)
            settings = self.config.generator.defaults.model_copy(
                update={"prompt": persona.scene_prompt(), "seed": int(rng.integers(0, 2**31 - 1))}
            )
            plans.append(SpawnPlan(persona, settings, None, "pool", -1, changes))
        return plans

    # ---- 6. relegate --------------------------------------------------------------------------------------
    def relegation(self, r: int, live: list[LiveStreamer], taken_names: set[str]) -> Verdict:
        """At a window: the bottom by window ERN goes (`arena.rules`), PBT plans their replacements."""
        c = self.config.relegation
        if not is_window_round(r, c.every, self.config.rounds):
            return Verdict()
        cands = [
            Candidate(
                st.streamer_id,
                st.name,
                st.persona,
                st.control.current_settings(),
                window_ern(st.ern_history, rounds_into_window(r, c.every)),
                st.rating.ordinal,
            )
            for st in live
        ]
        gone = select_relegated(cands, c.fraction)
        plans = plan_respawns(
            cands,
            gone,
            self.pool,
            self.config.generator.defaults,
            self.config.generator.limits,
            self.rngs["evolution"],
            top_fraction=c.top_fraction,
            fresh_probability=c.fresh_probability,
            resample_probability=c.resample_probability,
            taken_names=taken_names,
        )
        if self.uses_llm and plans:
            plans = self._llm_plans(plans, r, taken_names)
        by_id = {st.streamer_id: st for st in live}
        return Verdict([(by_id[x.streamer_id], x.window_ern) for x in gone], plans)

    # ---- LLM personas (policy: llm) -----------------------------------------------------------------------
    def _complete_persona(self, persona: Persona, actor: str, r: int, taken: set[str]) -> Persona:
        """Offline completion, or with `policy: llm` the LLM's (recorded; fallback to offline on failure)."""
        if not self.uses_llm or persona.is_complete():
            return persona.complete_offline()
        completer = self.policy.completer(actor, r, "persona")
        if completer is None:
            return persona.complete_offline()
        res = complete_with_llm(persona, completer, taken, self.config.llm.persona_retries)
        self._persona_event(
            r,
            actor,
            "persona_generated" if res.ok else "persona_llm_failed",
            res,
            None if res.ok else "complete_offline",
        )
        return res.persona

    def _persona_event(self, r: int, actor: str, kind: str, res: PersonaResult, fallback: str | None) -> None:
        note = f"the LLM failed {res.attempts} time(s); used {fallback} so the season goes on" if fallback else None
        payload = {
            "actor": actor,
            "name": res.persona.display_name,
            "attempts": res.attempts,
            "errors": res.errors,
            "changes": res.changes,
            "fallback": fallback,
            "note": note,
        }
        self.events.append((r, kind, payload))

    def _llm_plans(self, plans: list[SpawnPlan], r: int, taken: set[str]) -> list[SpawnPlan]:
        """`policy: llm`: fresh spawns get LLM-completed personas, exploit copies an LLM mutation."""
        out: list[SpawnPlan] = []
        for i, plan in enumerate(plans):
            others = {p.persona.display_name for p in plans[i + 1 :]} | {p.persona.display_name for p in out}
            names = set(taken) | others
            if plan.origin == "fresh":
                out.append(self._llm_fresh(plan, i, r, names))
            else:
                out.append(self._llm_mutation(plan, i, r, names))
        return out

    def _llm_fresh(self, plan: SpawnPlan, i: int, r: int, names: set[str]) -> SpawnPlan:
        raw = next((p for p in self.pool if p.seed == plan.persona.seed), None)
        if raw is None or raw.is_complete():
            return plan
        completer = self.policy.completer(f"respawn{i}", r, "persona")
        if completer is None:
            return plan
        res = complete_with_llm(raw, completer, names, self.config.llm.persona_retries)
        kind = "persona_generated" if res.ok else "persona_llm_failed"
        self._persona_event(r, f"respawn{i}", kind, res, None if res.ok else "complete_offline")
        if not res.ok:
            return plan
        persona = res.persona.model_copy(update={"traits": plan.persona.traits})
        settings = plan.settings.model_copy(update={"prompt": persona.scene_prompt()})
        return SpawnPlan(persona, settings, plan.parent_id, plan.origin, plan.replaces, [*plan.mutations, *res.changes])

    def _llm_mutation(self, plan: SpawnPlan, i: int, r: int, names: set[str]) -> SpawnPlan:
        completer = self.policy.completer(f"respawn{i}", r, "mutation")
        if completer is None:
            return plan
        res = mutate_with_llm(
            plan.persona, completer, names - {plan.persona.display_name}, self.config.llm.persona_retries
        )
        kind = "persona_mutated" if res.ok else "persona_llm_failed"
        self._persona_event(r, f"respawn{i}", kind, res, None if res.ok else "pbt_mutation_only")
        settings, changes = plan.settings, [*plan.mutations, *res.changes]
        if res.persona.visual_style != plan.persona.visual_style:  # the child's new look is its starting prompt
            settings = settings.model_copy(update={"prompt": res.persona.scene_prompt()})
            prompt = {"field": "settings.prompt", "old": plan.settings.prompt, "new": settings.prompt}
            changes.append(prompt | {"how": "persona-style"})
        return SpawnPlan(res.persona, settings, plan.parent_id, plan.origin, plan.replaces, changes)
