"""`--llm replay:SEASON`: a litellm custom provider that answers from a season's recorded `llm_call` events.

Why a litellm provider and not a fake policy: the replayed season runs the very same crewai Agents, tools,
budgets and persona code as the recorded one; only the model is swapped, so identical answers give
identical decisions, and any drift in the code around the model shows up as a request that no longer
matches its recording (a clear error, never a silently different season).

Each request carries `metadata.totoroid = {actor, round, purpose, index}` (set by `RecordingLLM`); that key
picks the recorded call, and the request's fingerprint (roles, texts, tool names) must equal the recorded one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ChatCompletionMessageToolCall, Choices, Function, Message, ModelResponse, Usage

from crews.llm.registration import register_model_info, register_provider
from crews.recording import request_fingerprint

PROVIDER = "replay"

Key = tuple[str, int, str, int]


class ReplayMismatch(RuntimeError):
    """The replayed season asked something its recording never answered."""


class ReplayProvider(CustomLLM):
    def __init__(self, season: str, records: list[dict[str, Any]]):
        super().__init__()
        self.season = season
        self.records: dict[Key, dict[str, Any]] = {}
        for r in records:
            self.records[(str(r["actor"]), int(r["round"]), str(r["purpose"]), int(r["index"]))] = r
        self.used: set[Key] = set()
        self._lock = threading.Lock()

    def answer(self, messages: list, optional_params: dict, litellm_params: dict | None) -> ModelResponse:
        meta = ((litellm_params or {}).get("metadata") or {}).get("totoroid")
        if not isinstance(meta, dict):
            raise ReplayMismatch(f"replay:{self.season}: request carries no replay key (not made by a RecordingLLM)")
        key: Key = (str(meta["actor"]), int(meta["round"]), str(meta["purpose"]), int(meta["index"]))
        rec = self.records.get(key)
        where = f"replay:{self.season}: {key[2]} call {key[3]} of {key[0]} in round {key[1]}"
        if rec is None:
            raise ReplayMismatch(f"{where} was never recorded (the season diverged from its recording)")
        got = request_fingerprint(messages, optional_params.get("tools"))
        if got != rec.get("fingerprint"):
            raise ReplayMismatch(
                f"{where}: the request differs from the recorded one (fingerprint {got} != "
                f"{rec.get('fingerprint')}); the code or config around the model changed"
            )
        if rec.get("error"):
            raise ReplayMismatch(f"{where}: recorded as failed ({rec['error']}); replaying the failure")
        with self._lock:
            self.used.add(key)
        calls = [
            ChatCompletionMessageToolCall(
                id=c.get("id") or f"call_{i}",
                type="function",
                function=Function(name=c["name"], arguments=c["arguments"]),
            )
            for i, c in enumerate(rec.get("tool_calls") or [])
        ]
        msg = Message(
            role="assistant",
            content=rec.get("response") if not calls else (rec.get("response") or None),
            tool_calls=calls or None,
        )
        resp = ModelResponse(
            id=f"replay-{key[0]}-{key[1]}-{key[2]}-{key[3]}",
            created=int(time.time()),
            model=f"{PROVIDER}/{self.season}",
            choices=[Choices(index=0, message=msg, finish_reason="tool_calls" if calls else "stop")],
            usage=Usage(
                prompt_tokens=int(rec.get("prompt_tokens", 0)),
                completion_tokens=int(rec.get("completion_tokens", 0)),
                total_tokens=int(rec.get("prompt_tokens", 0)) + int(rec.get("completion_tokens", 0)),
            ),
        )
        return resp

    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        acompletion=None,
        litellm_params=None,
        logger_fn=None,
        headers=None,
        timeout=None,
        client=None,
    ) -> ModelResponse:
        return self.answer(messages, optional_params, litellm_params)

    async def acompletion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        acompletion=None,
        litellm_params=None,
        logger_fn=None,
        headers=None,
        timeout=None,
        client=None,
    ) -> ModelResponse:
        return self.answer(messages, optional_params, litellm_params)


def register_replay(season: str, records: list[dict[str, Any]]) -> str:
    """Install the provider for `season` (replacing an earlier replay) and return the model string to give
    crewai (`replay/<season>`).

    Registered in litellm's model map with function calling and response_format support, so crewai takes
    the same native-tool path it took with the recorded model."""
    register_provider(PROVIDER, ReplayProvider(season, records))
    model = f"{PROVIDER}/{season}"
    register_model_info(model, PROVIDER)
    return model
