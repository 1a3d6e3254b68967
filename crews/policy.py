"""The decision seam: a policy maps an Observation to tool calls.

A policy never touches a stream directly; it gets `act(tool_name, args) -> result line`, which goes through
the same validated, clamped functions in `tools/` that an LLM crew uses. The baselines (`hold`, `random`,
`greedy`) and the LLM crews are interchangeable here, which is what makes ablations honest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from tools.observation import Observation

Act = Callable[[str, dict[str, Any]], str]


class Policy:
    name = "policy"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def prepare(self) -> dict[str, Any] | None:
        """Load what the first decision would otherwise wait for (a local model); called once before the
        first round, so a one-off start-up cost is not counted as a decision's latency. Returns what was
        done, for the event log, or None when there was nothing to do."""
        return None

    async def adecide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        """Async entry point used by `crews.decide`. Sync policies run in a worker thread."""
        await asyncio.to_thread(self.decide, obs, act, rng)


def make_policy(name: str, llm: Any = None) -> Policy:
    """`llm` (a `crews.llm_config.LLMSection`) configures `policy: llm`; the baselines ignore it."""
    from crews.baselines import BASELINES

    if name == "llm":
        from crews.llm_policy import LLMPolicy

        return LLMPolicy(llm)
    try:
        return BASELINES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(sorted([*BASELINES, 'llm']))}") from None
