"""The embedded LLM as a litellm provider: `import crews.llm` and use `model="embedded/smollm2-135m"`.

Importing this package registers the provider with litellm (idempotent), so crewai's
`LLM(model="embedded/smollm2-135m")` and plain `litellm.completion(...)` reach the same model.
The model itself loads lazily on the first call (`get_model()`), once per process.

`LITELLM_LOCAL_MODEL_COST_MAP` is set (unless the user set it) before litellm is imported: otherwise
litellm tries to fetch its cost map from GitHub at import and, offline, waits ~10 s on retries.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from .constrained import GrammarError  # noqa: E402
from .constrained import stats as grammar_stats  # noqa: E402
from .embedded_model import EmbeddedModelMissing, Generation, get_model, locate_gguf  # noqa: E402
from .provider import MODEL, EmbeddedLLM, litellm_extra_kwargs, register  # noqa: E402

register()

__all__ = [
    "MODEL",
    "EmbeddedLLM",
    "EmbeddedModelMissing",
    "Generation",
    "GrammarError",
    "get_model",
    "grammar_stats",
    "litellm_extra_kwargs",
    "locate_gguf",
    "register",
]
