"""The decision seam: a policy maps an Observation to tool calls.

A policy never touches a stream directly; it gets `act(tool_name, args) -> result line`, which goes through
the same validated, clamped functions in `tools/` that an LLM crew uses. The baselines (`hold`, `random`,
`greedy`) and the LLM crews are interchangeable here, which is what makes ablations honest.

Every hook the season loop uses is declared here with a no-op default, so the loop never asks a policy what
it can do (`hasattr`) or sets attributes on it: a policy overrides only the hooks it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from agents.persona import Persona
from tools.observation import Observation, ReflectionRequest

Act = Callable[[str, dict[str, Any]], str]
# chat messages and a JSON response format -> the model's text (persona completion, `agents.llm_persona`)
Completer = Callable[[list[dict[str, str]], dict[str, Any]], str]


class Policy:
    name = "policy"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        raise NotImplementedError

    async def adecide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        """Async entry point used by `policies.decide`. Sync policies run in a worker thread."""
        await asyncio.to_thread(self.decide, obs, act, rng)

    def prepare(self) -> dict[str, Any] | None:
        """Load what the first decision would otherwise wait for (a local model); called once before the
        first round, so a one-off start-up cost is not counted as a decision's latency. Returns what was
        done, for the event log, or None when there was nothing to do."""
        return None

    def meet_streamers(self, personas: Mapping[str, Persona]) -> None:
        """The live streamers' personas (slot -> persona), given before every round's decisions. An LLM
        policy builds each agent from its persona; the baselines read traits from the observation only."""

    def drain_records(self) -> list[Any]:
        """What the policy's model calls were since the last drain (the arena stores them); none here."""
        return []

    def completer(self, actor: str, round_number: int, purpose: str) -> Completer | None:
        """A text model for persona completion and mutation, or None: then personas are completed offline."""
        return None

    def replay(self, season: str, records: list[Any]) -> None:
        """Answer every model call from a recorded season's `records` instead of a live model. A policy
        that makes no model calls has nothing to replay."""

    def reflect_all(self, requests: list[ReflectionRequest]) -> dict[str, str]:
        """At a relegation window: each streamer's lessons and plan (stream id -> one short text), from its
        memory. A policy without a model has nothing to say; the arena stores what comes back."""
        return {}
