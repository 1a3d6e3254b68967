"""The season's `llm:` section and the one place a crewai LLM is built from it.

Why one place: every caller (streamer agents, persona generation, mutation, the benchmark) must get the same
offline-safe set-up. crewai and litellm both reach for the network on their own (telemetry, tracing, the
litellm cost-map download at import); with the embedded model nothing may open a socket, so the environment
switches below are set before either package is imported. API keys come only from the environment: a key in
a season YAML ends up in the stored season config, the event log and every copy of the database.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# crews.llm imports neither torch nor litellm at package level: these are the cheap names/dtype modules.
from crews.llm.dtype import choose_dtype, cpu_has_bf16
from crews.llm.names import EMBEDDED_PREFIX, is_embedded
from crews.llm.names import MODEL as DEFAULT_MODEL

# Re-exported: the CLI checks the model string and the dtype through this, the public config module.
__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDED_PREFIX",
    "REPLAY_PREFIX",
    "LLMSection",
    "build_llm",
    "choose_dtype",
    "cpu_has_bf16",
    "is_embedded",
    "quiet_network_env",
]

REPLAY_PREFIX = "replay:"


# Set before crewai/litellm are imported anywhere in the process (crews.llm_config is imported by
# arena.config, which every entry point loads first). setdefault: a user may still opt in explicitly.
_OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm downloads its price map at import otherwise
    "LITELLM_TELEMETRY": "False",
}


def quiet_network_env() -> None:
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


quiet_network_env()

_SECRET_KEYS = ("api_key", "apikey", "api-key", "key", "secret", "token", "password")


class LLMSection(BaseModel):
    """`llm:` in a season YAML. Any litellm model string works (`openai/gpt-4o-mini`, `ollama/llama3.2`,
    `anthropic/...`, `hosted_vllm/...` with `api_base`); `replay:SEASON` answers from a recorded season."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        max_length=200,
        description="a litellm model string, or replay:SEASON to answer from a season's log",
    )
    api_base: str | None = Field(None, max_length=500, description="OpenAI-compatible base URL (optional)")
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(160, ge=8, le=32768, description="completion tokens per LLM call")
    token_budget: int = Field(
        4000,
        ge=64,
        le=10_000_000,
        description="prompt + completion tokens per streamer per round; the agent stops when spent",
    )
    timeout_seconds: float = Field(60.0, gt=0, le=3600, description="one LLM request")
    max_tool_calls: int = Field(
        2,
        ge=1,
        le=20,
        description="tool calls per streamer per round (each costs one "
        "LLM request: the embedded model always answers a tool call when tools are offered)",
    )
    persona_retries: int = Field(2, ge=0, le=10, description="retries of a persona completion before the fallback")
    observation: Literal["auto", "full", "brief"] = Field(
        "auto",
        description="how the round is written for the model: full, brief (the score drivers in about a third "
        "of the tokens), or auto (brief for embedded models, whose prefill on a CPU is most of a decision)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for k in data:
                if str(k).lower() in _SECRET_KEYS:
                    raise ValueError(
                        f"'{k}' must not be in the season YAML (it would be stored in the database); set the "
                        "provider's environment variable instead, e.g. OPENAI_API_KEY or ANTHROPIC_API_KEY"
                    )
        return data

    def brief_for(self, model: str) -> bool:
        """Whether decisions on `model` read the brief observation (`observation: auto` decides by the model)."""
        return self.observation == "brief" or (self.observation == "auto" and is_embedded(model))

    @property
    def replay_season(self) -> str | None:
        return self.model[len(REPLAY_PREFIX) :] if self.model.startswith(REPLAY_PREFIX) else None


# A local OpenAI-compatible server (llama-cpp-python, vLLM, LM Studio...) needs no key, but litellm's OpenAI
# client refuses to send a request without one. Not a secret: it is sent only to the configured api_base.
PLACEHOLDER_KEY = "no-key-needed"


def needs_placeholder_key(model: str) -> bool:
    """An `openai/...` model on a custom api_base with no OPENAI_API_KEY in the environment."""
    return model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY")


def build_llm(section: LLMSection, *, model: str | None = None, **extra: Any):
    """A `crewai.LLM` for `section`, always on the litellm path (is_litellm=True) so every call, whatever
    the provider, goes through litellm: one code path, one cost map, one place to record."""
    # Deferred, not a cycle: crewai takes seconds to import and this module is loaded by every entry point.
    from crews.llm.quiet_crewai import silence_crewai
    from crews.recording import RecordingLLM

    silence_crewai()  # failures are reported by the arena, once per round, not as a crewai panel per call

    model = model or section.model
    if is_embedded(model):
        # Deferred, not a cycle (crews.llm never imports this module): the provider loads torch and litellm.
        from crews.llm.provider import register

        register()  # the model itself loads lazily, on the first call

    kwargs: dict[str, Any] = {
        "temperature": section.temperature,
        "max_tokens": section.max_tokens,
        "timeout": section.timeout_seconds,
    }
    if section.api_base:
        kwargs["api_base"] = section.api_base
        if needs_placeholder_key(model):
            kwargs["api_key"] = PLACEHOLDER_KEY
    # litellm 1.106 imports its MCP proxy handler on every call that offers tools, and that import fails with
    # the pinned mcp 1.30 (no `mcp.types.CacheableResult`). We never use MCP tools: skip the handler.
    params: dict[str, Any] = {"_skip_mcp_handler": True}
    if "response_format" in extra:  # crewai's field takes only json_object/pydantic; litellm takes json_schema
        params["response_format"] = extra.pop("response_format")
    kwargs["additional_params"] = params
    kwargs.update(extra)
    return RecordingLLM(model=model, is_litellm=True, **kwargs)
