"""Policy names as a season config writes them (`policy: greedy`) -> a Policy. The one place that knows
every policy, so the loop and the CLI never import a policy class."""

from __future__ import annotations

from typing import Literal, get_args

from crews.llm_config import LLMSection
from policies.base import Policy
from policies.baselines import BASELINES

# The names a season config may give (`policy: greedy`); the config's field and its JSON schema use this type.
PolicyName = Literal["hold", "random", "greedy", "options", "llm"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)


def make_policy(name: str, llm: LLMSection | None = None) -> Policy:
    """`llm` configures `policy: llm`; the baselines ignore it."""
    if name == "llm":
        # imported here, not at the top: crewai and litellm take seconds to import, and a baseline season
        # never needs them (this is a cost, not an import cycle: crews.llm_policy never imports this module)
        from crews.llm_policy import LLMPolicy

        return LLMPolicy(llm)
    try:
        return BASELINES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(sorted(POLICY_NAMES))}") from None
