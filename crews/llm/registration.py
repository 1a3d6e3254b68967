"""The one way a custom litellm provider (embedded model, replay, the tests' scripted model) is installed.

Why one helper: litellm finds a custom provider through module globals: `custom_provider_map` (searched for
the handler on every call) and `_custom_providers` / `provider_list` (consulted when the model string is
parsed). Editing them in place from several places raced with calls in flight and left stale handlers behind.
Here the map is rebuilt and assigned in one step under a lock, so a concurrent call sees the old handler or
the new one, never a half-edited list, and registering a name again replaces the earlier handler.
"""

from __future__ import annotations

import threading
from typing import Any

import litellm
from litellm import CustomLLM

_LOCK = threading.Lock()

# What every project provider declares: native tool calls and JSON schemas (so crewai takes the same path
# for all of them) and zero cost (nothing is billed for a local or replayed model).
_MODEL_INFO: dict[str, Any] = {
    "mode": "chat",
    "max_tokens": 2048,
    "max_input_tokens": 8192,
    "max_output_tokens": 2048,
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    "supports_function_calling": True,
    "supports_response_schema": True,
    "supports_tool_choice": True,
}


def register_provider(name: str, handler: CustomLLM) -> None:
    """Make `name/...` model strings reach `handler`, replacing any handler registered under `name`."""
    with _LOCK:
        others = [p for p in litellm.custom_provider_map if p.get("provider") != name]
        litellm.custom_provider_map = [*others, {"provider": name, "custom_handler": handler}]
        if name not in litellm._custom_providers:
            litellm._custom_providers.append(name)
        if name not in litellm.provider_list:
            litellm.provider_list.append(name)


def unregister_provider(name: str) -> None:
    """Drop the handler of `name`: later calls fail with litellm's unknown-provider error (never reach it)."""
    with _LOCK:
        litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p.get("provider") != name]


def registered_handler(name: str) -> CustomLLM | None:
    """The handler `name` currently dispatches to, if any."""
    for p in litellm.custom_provider_map:
        if p.get("provider") == name:
            return p["custom_handler"]
    return None


def register_model_info(model: str, provider: str, **info: Any) -> None:
    """Tell litellm (and so crewai) that `model` does native tool calls and JSON schemas and costs 0;
    `info` overrides single entries (token limits)."""
    with _LOCK:
        litellm.register_model({model: {**_MODEL_INFO, "litellm_provider": provider, **info}})
