"""The embedded LLM as a litellm provider: `model="embedded/smollm2-135m"` once `crews.llm.provider` is imported.

Why importing this package is cheap: `crews.llm_config` (loaded by every entry point) needs the model's name
and dtype choice from here, and must not pay for torch, transformers, llguidance and litellm (about 9 s on the
dev machine) in a baseline season. So only `names` and `dtype` load with the package; every other name below
loads its module on first use (PEP 562). Importing `crews.llm.provider` (which `crews.llm_config.build_llm`
does for an embedded model, as does touching `EmbeddedLLM`, `register` or `litellm_extra_kwargs` here)
registers the provider with litellm, so crewai's `LLM(model="embedded/smollm2-135m")` and plain
`litellm.completion(...)` reach the same model. The model itself loads lazily on the first call
(`get_model()`), once per process.

`LITELLM_LOCAL_MODEL_COST_MAP` is set (unless the user set it) before litellm is imported: otherwise
litellm tries to fetch its cost map from GitHub at import and, offline, waits ~10 s on retries.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from .dtype import choose_dtype  # noqa: E402
from .names import MODEL, is_embedded  # noqa: E402

# name -> (submodule, attribute): loaded on first access, because these submodules import torch or litellm
_LAZY = {
    "GrammarError": ("constrained", "GrammarError"),
    "grammar_stats": ("constrained", "stats"),
    "EmbeddedModelMissing": ("embedded_model", "EmbeddedModelMissing"),
    "Generation": ("embedded_model", "Generation"),
    "get_model": ("embedded_model", "get_model"),
    "locate_gguf": ("embedded_model", "locate_gguf"),
    "EmbeddedLLM": ("provider", "EmbeddedLLM"),
    "litellm_extra_kwargs": ("provider", "litellm_extra_kwargs"),
    "register": ("provider", "register"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


__all__ = ["MODEL", "choose_dtype", "is_embedded", *_LAZY]
