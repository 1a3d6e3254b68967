"""The embedded model's litellm name, in a module that imports nothing.

Why its own module: `crews.llm_config` (imported by every entry point) must tell an embedded model string from
a remote one without loading torch or litellm, and the provider must register exactly the name it checks.
"""

from __future__ import annotations

PROVIDER = "embedded"
MODEL_NAME = "smollm2-135m"
MODEL = f"{PROVIDER}/{MODEL_NAME}"
EMBEDDED_PREFIX = f"{PROVIDER}/"


def is_embedded(model: str) -> bool:
    """True for the in-process model (`embedded/...`), which needs loading and a host thread; not for remote
    or replayed models."""
    return model.startswith(EMBEDDED_PREFIX)
