"""litellm custom provider `embedded`: `litellm.completion(model="embedded/smollm2-135m", ...)`.

Why a litellm provider: crewai and every other caller in the project talk to LLMs through litellm, so
the embedded model must be just another model string (issue 4). Registering it in litellm's model map
with zero cost and `supports_function_calling` makes crewai send OpenAI-style `tools` and makes
`litellm.completion_cost` answer 0.

Behaviour (OpenAI chat semantics, adapted to a 135M model):
- `tools` given (and tool_choice not "none"): the output is *always exactly one* call to an offered tool
  with schema-valid arguments, enforced by the grammar (a tiny model would otherwise ramble);
  tool_choice naming a function restricts the grammar to that function; "auto"/"required" both force a call.
- `response_format` json_schema / json_object: content is JSON constrained to the schema.
- otherwise plain text; `stop` is honoured.
- a degenerate repetition loop is broken (`loop_guard`), so a looping answer ends instead of hitting max_tokens.
- temperature absent or 0 -> greedy (deterministic, what replay wants); >0 -> sampling seeded by `seed`.
- A schema the grammar cannot compile, or a constrained answer cut off by max_tokens, raises
  `GrammarError` (litellm surfaces it) rather than returning invalid JSON.
- Concurrent requests (the decisions of a round) are decoded as one batch on the model's host
  (`batching`, `host_thread`); the request's recording metadata (actor, round, purpose, call index) orders
  its row, so a batch's composition and order do not depend on thread timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.types.utils import ChatCompletionMessageToolCall, Function, Message, Usage

from . import constrained, prompting
from .constrained import GrammarError
from .embedded_model import MODELS, get_model
from .loop_guard import DigitCap, LoopGuard
from .name_choice import CanonicalToolNames
from .names import MODEL, PROVIDER
from .registration import register_model_info, register_provider, registered_handler

MAX_OUTPUT_TOKENS = 1024
DEFAULT_TEXT_TOKENS = 256
DEFAULT_CALL_TOKENS = 256

# On top of registration's defaults (tool calls, JSON schemas, zero cost): the model's own limits.
MODEL_INFO = {
    "cache_creation_input_token_cost": 0.0,
    "cache_read_input_token_cost": 0.0,
    "max_tokens": MAX_OUTPUT_TOKENS,
    "max_input_tokens": prompting.MAX_INPUT_TOKENS,
    "max_output_tokens": MAX_OUTPUT_TOKENS,
}


def _tool_choice_filter(tools: list[dict], tool_choice: Any) -> list[dict] | None:
    """The tools the grammar may call, or None for a text answer (tool_choice "none")."""
    if tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        chosen = [t for t in tools if (t.get("function") or {}).get("name") == name]
        if not chosen:
            raise GrammarError(f"tool_choice names {str(name)[:64]!r}, which is not among the offered tools")
        return chosen
    return tools


def _response_schema(response_format: Any) -> dict | None:
    """JSON schema from an OpenAI/litellm response_format, None for text."""
    if response_format is None:
        return None
    if isinstance(response_format, type):  # a pydantic model passed straight through
        return response_format.model_json_schema()
    if not isinstance(response_format, dict):
        raise GrammarError(f"unsupported response_format of type {type(response_format).__name__}")
    kind = response_format.get("type")
    if kind == "json_schema":
        js = response_format.get("json_schema") or {}
        schema = js.get("schema") if isinstance(js, dict) else None
        if not isinstance(schema, dict):
            raise GrammarError("response_format json_schema has no 'schema' object")
        return schema
    if kind == "json_object":
        return {"type": "object"}
    if kind in (None, "text"):
        return None
    raise GrammarError(f"unsupported response_format type {str(kind)[:40]!r}")


class EmbeddedLLM(CustomLLM):
    """The litellm handler; stateless apart from the shared model it borrows from `get_model()`."""

    def completion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params: dict,
        acompletion=None,
        litellm_params=None,
        logger_fn=None,
        headers={},  # noqa: B006  (litellm CustomLLM signature)
        timeout=None,
        client=None,
    ):
        if model not in MODELS:
            raise ValueError(f"unknown embedded model {model!r}; available: {', '.join(MODELS)}")
        return self._complete(
            messages, dict(optional_params or {}), model_response, _batch_key(litellm_params), model=model
        )

    async def acompletion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params: dict,
        acompletion=None,
        litellm_params=None,
        logger_fn=None,
        headers={},  # noqa: B006  (litellm CustomLLM signature)
        timeout=None,
        client=None,
    ):
        # The model decodes on CPU under a lock: run it in a worker thread so the event loop (crewai's
        # concurrent agents) keeps running; concurrent calls queue on the model's lock.
        return await asyncio.to_thread(
            self.completion,
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
            acompletion,
            litellm_params,
            logger_fn,
            headers,
            timeout,
            client,
        )

    def _complete(self, messages: list, p: dict, model_response, key: tuple = (), model: str | None = None):
        """One chat completion, as pipeline steps: what the answer must be (tool call, JSON or text), the
        prompt, the decode settings, the grammar processor, decode, check the grammar finished, respond.

        Keep this order: when one request has several faults, the error raised is the earliest step's."""
        m = get_model(model)
        call_tools, schema = _answer_constraints(p)
        prompt_ids = _encode_prompt(m.tokenizer, messages, call_tools, schema)
        settings = _decode_settings(p, schema, len(prompt_ids), m.max_context)
        names = [t.get("function", t).get("name", "") for t in call_tools or [] if isinstance(t, dict)]
        matcher, procs = _logits_processors(m, schema, len(prompt_ids), names)
        gen = m.generate(
            prompt_ids,
            max_new_tokens=settings.max_new,
            temperature=settings.temperature,
            top_p=float(p.get("top_p") or 1.0),
            seed=settings.seed,
            logits_processors=procs,
            stop=[s for s in settings.stop if isinstance(s, str)][:4],
            key=key,
        )
        _require_complete(matcher, gen, settings.max_new)
        if call_tools:
            message, finish = _tool_call_message(gen, prompt_ids), "tool_calls"
        else:
            message, finish = Message(role="assistant", content=gen.text), gen.finish_reason
        return _fill_response(model_response, message, finish, gen)


def _batch_key(litellm_params: Any) -> tuple:
    """Where this request sorts in a batch (`batching`): the recording session's metadata (round, call index
    within its decision, purpose, actor: crews/recording.py `CallSession.metadata`), which does not depend on
    thread timing; () when absent (the prompt then orders the row). The call index comes before the actor so
    that, when a batch has a row limit, decisions' first requests go before anyone's second; the actors of a
    round are ordered by a digest of round and actor, so the limit does not always delay the same ones."""
    meta = (litellm_params or {}).get("metadata") if isinstance(litellm_params, dict) else None
    tag = meta.get("totoroid") if isinstance(meta, dict) else None
    if not isinstance(tag, dict):
        return ()
    number = [f"{int(tag[k]):08d}" if isinstance(tag.get(k), int) else str(tag.get(k, "")) for k in ("round", "index")]
    actor = str(tag.get("actor", ""))
    # Among the actors, a digest of (round, actor): with a row limit the same streamers are not always first.
    turn = hashlib.sha256(f"{number[0]}:{actor}".encode()).hexdigest()[:8]
    return (number[0], number[1], str(tag.get("purpose", "")), turn, actor)


@dataclass(frozen=True)
class _DecodeSettings:
    """A request's decode settings, resolved against the defaults and the model's limits."""

    temperature: float
    max_new: int
    seed: Any
    stop: Any  # a sequence of stop strings; () for JSON answers


def _answer_constraints(p: dict) -> tuple[list[dict] | None, dict | None]:
    """(the tools the answer must call, the cleaned JSON schema the answer must match): a tool call's
    schema when tools are offered (and tool_choice allows a call), else response_format's, else (None, None)."""
    tools = p.get("tools") or None
    if tools is not None and not isinstance(tools, list):
        raise GrammarError("tools must be a list")
    call_tools = _tool_choice_filter(tools, p.get("tool_choice")) if tools else None
    if call_tools:
        return call_tools, constrained.tool_call_schema(call_tools)
    raw = _response_schema(p.get("response_format"))
    return call_tools, constrained.clean_schema(raw) if raw is not None else None


def _encode_prompt(tok, messages: list, call_tools: list[dict] | None, schema: dict | None) -> list[int]:
    """The chat prompt's token ids; a response_format schema (not a tool call's) is described in it."""
    specials = list(tok.all_special_tokens) + ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    chat = prompting.build_messages(messages, call_tools, schema if not call_tools else None, specials)
    return prompting.encode(tok, chat)


def _decode_settings(p: dict, schema: dict | None, prompt_tokens: int, max_context: int) -> _DecodeSettings:
    """temperature (absent -> greedy), max new tokens (capped by MAX_OUTPUT_TOKENS and the context left),
    seed, and the stop strings (none for a JSON answer: a stop string must not cut it in half)."""
    temperature = float(p.get("temperature") or 0.0)
    requested = p.get("max_tokens") or p.get("max_completion_tokens")
    default = DEFAULT_CALL_TOKENS if schema is not None else DEFAULT_TEXT_TOKENS
    max_new = max(1, min(int(requested or default), MAX_OUTPUT_TOKENS, max_context - prompt_tokens))
    stop = p.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    if schema is not None:
        stop = ()
    return _DecodeSettings(temperature, max_new, p.get("seed"), stop)


def _logits_processors(m, schema: dict | None, prompt_tokens: int, tool_names: Sequence[str] = ()) -> tuple[Any, list]:
    """(the grammar's matcher or None, the processors in order): the grammar first, then the tool-name
    choice over whole names (`name_choice`), then the loop guard and the digit cap, which never block the only
    token the grammar allows."""
    procs: list = []
    matcher = None
    if schema is not None:
        grammar = constrained.compile_schema(schema, m.tokenizer)
        matcher = constrained.JsonSchemaLogitsProcessor(grammar, m.tokenizer, m.vocab_size)
        procs = [matcher]
    if len(tool_names) > 1:
        procs.append(CanonicalToolNames(m.tokenizer, tool_names, prompt_tokens))
    procs.append(LoopGuard(prompt_tokens))
    if schema is not None:  # a JSON answer: its numbers end after a few decimals
        procs.append(DigitCap(m.tokenizer, prompt_tokens, m.digit_token_ids))
    return matcher, procs


def _require_complete(matcher, gen, max_new: int) -> None:
    """A constrained answer cut off by max_tokens is an error, never invalid JSON."""
    if matcher is not None and not matcher.accepted():
        raise GrammarError(
            f"constrained answer incomplete after {gen.completion_tokens} tokens "
            f"(max_tokens={max_new}); raise max_tokens"
        )


def _tool_call_message(gen, prompt_ids: list[int]) -> Message:
    """The assistant message with the one tool call the grammar produced; its id is a digest of prompt and
    output, so a replayed decision gets the same id."""
    call = json.loads(gen.text)  # grammar-guaranteed JSON; parsed, never evaluated
    digest = hashlib.sha256(json.dumps([prompt_ids, gen.token_ids]).encode()).hexdigest()[:24]
    return Message(
        role="assistant",
        content=None,
        tool_calls=[
            ChatCompletionMessageToolCall(
                id=f"call_{digest}",
                type="function",
                function=Function(name=call["name"], arguments=json.dumps(call["arguments"])),
            )
        ],
    )


def _fill_response(model_response, message: Message, finish: str, gen):
    """Fill litellm's ModelResponse in OpenAI's shape: cached prompt tokens (our prefix cache) go under
    usage.prompt_tokens_details."""
    model_response.choices[0].message = message
    model_response.choices[0].finish_reason = finish
    model_response.model = MODEL
    model_response.created = int(time.time())
    model_response.usage = Usage(
        prompt_tokens=gen.prompt_tokens,
        completion_tokens=gen.completion_tokens,
        total_tokens=gen.prompt_tokens + gen.completion_tokens,
        prompt_tokens_details={"cached_tokens": gen.cached_tokens},
    )
    return model_response


_HANDLER = EmbeddedLLM()
_REG_LOCK = threading.Lock()
_EXTRA: dict | None = None


def register() -> None:
    """Idempotently add the `embedded` provider and a model-map entry for every embedded model to litellm (a
    no-op when they are there, so every `build_llm` may call it).

    Every model, not only the default: crewai asks litellm whether a model supports function calling and, for
    a model litellm does not know, sends no tools at all. `embedded/gemma3-270m` then answered every decision
    in prose and acted only through the JSON-action fallback (two requests per decision, 14 s p50 in session
    9's rotated seasons)."""
    with _REG_LOCK:
        if registered_handler(PROVIDER) is not _HANDLER:
            register_provider(PROVIDER, _HANDLER)
        for name in MODELS:
            model = f"{PROVIDER}/{name}"
            if litellm.model_cost.get(model, {}).get("litellm_provider") != PROVIDER:
                register_model_info(model, PROVIDER, **MODEL_INFO)


def litellm_extra_kwargs() -> dict:
    """Extra kwargs every litellm call *with tools* needs in this environment (empty when none).

    litellm 1.106 imports its MCP bridge (which needs mcp>=2.2) whenever `tools` are passed, while
    crewai 1.15 pins mcp<2; the import then fails for every provider. `_skip_mcp_handler=True` (a
    litellm kwarg) skips the bridge; we never pass MCP tools. crewai forwards unknown LLM kwargs to
    litellm, so `crewai.LLM(model=..., **litellm_extra_kwargs())` works too.
    """
    global _EXTRA
    if _EXTRA is None:
        try:  # a probe, not a deferral: does litellm's MCP bridge import in this environment?
            import litellm.responses.mcp.chat_completions_handler  # noqa: F401
            import litellm.responses.mcp.litellm_proxy_mcp_handler  # noqa: F401

            _EXTRA = {}
        except ImportError:
            _EXTRA = {"_skip_mcp_handler": True}
    return dict(_EXTRA)


_WARM_UP_TOOL = {
    "type": "function",
    "function": {
        "name": "keep",
        "description": "Change nothing.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def warm_up(model: str) -> None:
    """One tiny tool-call request through litellm, so what a request pays once per process is paid before the
    first round: litellm's first-call setup, the chat template's compilation and the grammar library's
    tokenizer. Without it the first round's decisions spent ~0.6 s on these inside their first requests
    (bench/agents.py timeline, session 10)."""
    litellm.completion(
        model=model,
        messages=[{"role": "user", "content": "Go."}],
        tools=[_WARM_UP_TOOL],
        max_tokens=8,
        temperature=0.0,
        **litellm_extra_kwargs(),
    )


register()  # importing this module makes `embedded/...` model strings work, as `import crews.llm` used to
