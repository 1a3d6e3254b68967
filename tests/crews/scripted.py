"""A scripted litellm custom provider for unit tests of the code *around* the model (tools, budgets,
recording, replay): it answers from a Python function, so a test can send exactly the malformed or hostile
tool call it wants to check. Never used outside tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ChatCompletionMessageToolCall, Choices, Function, Message, ModelResponse, Usage

import crews  # noqa: F401  (first: network features off before litellm is imported)
from crews.llm.registration import register_model_info, register_provider

PROVIDER = "scripted"
# script(messages, tool_names, meta) -> str (final text) | list[(tool_name, args)] | Exception to raise
Script = Callable[[list, list[str], dict], Any]


def tool_call(name: str, args: Any) -> tuple[str, str]:
    return name, args if isinstance(args, str) else json.dumps(args)


class ScriptedLLM(CustomLLM):
    def __init__(self, script: Script, prompt_tokens: int = 50, completion_tokens: int = 10, delay: float = 0.0):
        super().__init__()
        self.script = script
        self.prompt_tokens, self.completion_tokens, self.delay = prompt_tokens, completion_tokens, delay
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def _answer(self, messages: list, optional_params: dict, litellm_params: dict | None) -> ModelResponse:
        tools = [t["function"]["name"] for t in optional_params.get("tools") or []]
        meta = ((litellm_params or {}).get("metadata") or {}).get("totoroid") or {}
        with self._lock:
            self.requests.append(
                {
                    "messages": messages,
                    "tools": tools,
                    "meta": meta,
                    "response_format": optional_params.get("response_format"),
                }
            )
        if self.delay:
            time.sleep(self.delay)
        out = self.script(messages, tools, meta)
        if isinstance(out, BaseException):
            raise out
        calls = None
        content = None
        if isinstance(out, list):
            calls = [
                ChatCompletionMessageToolCall(
                    id=f"call_{len(self.requests)}_{i}",
                    type="function",
                    function=Function(name=n, arguments=a if isinstance(a, str) else json.dumps(a)),
                )
                for i, (n, a) in enumerate(out)
            ]
        else:
            content = str(out)
        return ModelResponse(
            id="scripted",
            created=int(time.time()),
            model="scripted",
            choices=[
                Choices(
                    index=0,
                    message=Message(role="assistant", content=content, tool_calls=calls),
                    finish_reason="tool_calls" if calls else "stop",
                )
            ],
            usage=Usage(
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                total_tokens=self.prompt_tokens + self.completion_tokens,
            ),
        )

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
    ):
        return self._answer(messages, optional_params, litellm_params)

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
    ):
        return self._answer(messages, optional_params, litellm_params)


def install(script: Script, **kw: Any) -> ScriptedLLM:
    """Register (replacing any previous) scripted provider; model string `scripted/test`."""
    handler = ScriptedLLM(script, **kw)
    register_provider(PROVIDER, handler)
    register_model_info("scripted/test", PROVIDER)
    return handler


def tool_turns(*turns: list[tuple[str, Any]], final: str = "done") -> Script:
    """A script that sends the given tool-call turns in order (per actor), then a final line."""
    counters: dict[tuple, int] = {}
    lock = threading.Lock()

    def script(messages: list, tools: list[str], meta: dict) -> Any:
        key = (meta.get("actor"), meta.get("round"), meta.get("purpose"))
        with lock:
            i = counters.get(key, 0)
            counters[key] = i + 1
        if i < len(turns):
            return [tool_call(n, a) for n, a in turns[i]]
        return final

    return script
