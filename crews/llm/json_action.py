"""One JSON action from a model that did not call a tool: parse it from the text, validate it, retry once.

Why: an OpenAI-compatible server without native tool calling (llama-cpp-python's server with a model's own
chat template, most local servers) answers the decision in prose, and crewai takes the prose as the final
answer: the decision "succeeds" and nothing changes. So after the crew, a decision that applied no action
gets one more chance:

1. the model's last answer is searched for one JSON action: `{"tool": NAME, "args": {...}}` (also the usual
   spellings: `name`/`arguments`, `action`/`action_input`, OpenAI's `function` object, ReAct's
   `Action:`/`Action Input:` lines, or bare arguments that fit exactly one tool), validated against the
   argument schema offered to the model this round;
2. if none is there, the model is asked once more, with the validation error, for just that JSON object under
   a response format that constrains it where the endpoint can (`action_response_format`; the recording LLM
   steps down to what the server accepts);
3. the action goes through the decision's own tool object, so the tool-call budget, `act`, its clamps and its
   record all apply exactly as for a native tool call;
4. still nothing: `NoAction`, which `policies.decide` turns into a failed decision the user sees.

This module knows no crewai and no agent code (the `crews.llm` layer): tools, the model and `act` come in as
plain callables and duck-typed objects.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

_TOOL_KEYS = ("tool", "name", "action", "tool_name", "function")
_ARGS_KEYS = ("args", "arguments", "parameters", "action_input", "input", "tool_input")
_REACT = re.compile(r"Action\s*:\s*`?([A-Za-z_][\w]*)`?\s*\n+\s*Action\s*Input\s*:\s*(\{.*\})", re.S)


# Numeric bounds are not a reason to refuse an action: the tool clamps into the limits, and llama-cpp's
# schema grammar does not enforce minimum/maximum.
_BOUNDS = {"less_than_equal", "greater_than_equal", "less_than", "greater_than"}


class NoAction(RuntimeError):
    """The decision ended without applying any action (its stream stays as it was)."""


class ActionError(ValueError):
    """The text holds no valid action; the message is written for the model to correct itself."""


@dataclass(frozen=True)
class Action:
    tool: str
    args: dict[str, Any]


class ToolLike(Protocol):
    name: str
    args_schema: type[BaseModel]

    def run(self, *args: Any, **kwargs: Any) -> Any: ...


class ActCounter:
    """Wraps a decision's `act` and counts the calls that changed the stream (their line starts with "ok");
    read-only tools answer data and errors answer "error: ...", so neither counts as an action."""

    def __init__(self, act: Callable[[str, Any], str]):
        self._act = act
        self._lock = threading.Lock()
        self.applied = 0
        self.calls = 0
        self.last_error: str | None = None

    def __call__(self, name: str, args: Any) -> str:
        line = self._act(name, args)
        with self._lock:
            self.calls += 1
            if str(line).startswith("ok"):
                self.applied += 1
            elif str(line).startswith("error"):
                self.last_error = f"{name}: {line}"[:200]
        return line


def action_schemas(tools: Sequence[ToolLike]) -> dict[str, type[BaseModel]]:
    """The tools an action can name: those that take arguments (the read-only ones change nothing)."""
    return {t.name: t.args_schema for t in tools if t.args_schema is not None and t.args_schema.model_fields}


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in `text`, in order (fenced or inline)."""
    dec = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = dec.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            out.append(obj)
        i = text.find("{", end)
    return out


def _as_args(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _candidate(obj: dict[str, Any], schemas: Mapping[str, type[BaseModel]]) -> tuple[str | None, Any]:
    """(tool name or None, its arguments) as the object spells them."""
    for key in _TOOL_KEYS:
        value = obj.get(key)
        if isinstance(value, dict) and key == "function":  # OpenAI's {"function": {"name", "arguments"}}
            return _candidate(value, schemas)
        if isinstance(value, str):
            args = next((_as_args(obj[k]) for k in _ARGS_KEYS if k in obj), None)
            if args is None:  # {"tool": "speak", "text": "..."}: the arguments beside the name
                args = {k: v for k, v in obj.items() if k != key}
            return value.strip(), args
    # bare arguments: fine when they fit exactly one tool's fields
    fits = [n for n, s in schemas.items() if obj and set(obj) <= set(s.model_fields)]
    return (fits[0], obj) if len(fits) == 1 else (None, obj)


def _validate(name: str, args: Any, schemas: Mapping[str, type[BaseModel]]) -> Action:
    if name not in schemas:
        raise ActionError(f"unknown tool {name[:40]!r}; use one of: {', '.join(schemas)}")
    if not isinstance(args, dict):
        raise ActionError(f"{name}: args must be a JSON object")
    try:
        schemas[name].model_validate(args)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e.get("type") not in _BOUNDS]
        if not errors:  # only out of bounds: `act` clamps it into the limits (a server grammar may skip bounds)
            return Action(name, dict(args))
        err = errors[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "args"
        raise ActionError(f"{name}: {where}: {err.get('msg', 'invalid')}") from None
    return Action(name, dict(args))


def parse_action(text: str, schemas: Mapping[str, type[BaseModel]]) -> Action:
    """The first valid action in `text`; else `ActionError` saying what was wrong with the best candidate."""
    if not schemas:
        raise ActionError("no tool that changes the stream is offered")
    text = text or ""
    found: list[tuple[str | None, Any]] = []
    for m in _REACT.finditer(text):
        found.append((m.group(1), _as_args(_json_objects(m.group(2))[0] if _json_objects(m.group(2)) else "")))
    found += [_candidate(o, schemas) for o in _json_objects(text)]
    if not found:
        raise ActionError("no JSON object found; answer with one JSON object")
    first_error: ActionError | None = None
    for name, args in found:
        try:
            if name is None:
                raise ActionError('the object names no tool; put the tool\'s name in "tool"')
            return _validate(name, args, schemas)
        except ActionError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def action_json_schema(schemas: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """One JSON object `{"tool": NAME, "args": {...}}` whose args follow that tool's schema."""
    options = []
    for name, model in schemas.items():
        args = model.model_json_schema()
        args.pop("title", None)
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"type": "string", "enum": [name]}, "args": args},
                "required": ["tool", "args"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def action_response_format(schemas: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """The strongest format first (JSON schema); `crews.recording` steps it down to what the server takes."""
    return {"type": "json_schema", "json_schema": {"name": "action", "schema": action_json_schema(schemas)}}


def retry_prompt(error: ActionError, schemas: Mapping[str, type[BaseModel]]) -> str:
    return (
        f"That was not a usable action ({error}). Answer with exactly one JSON object and nothing else: "
        f'{{"tool": NAME, "args": {{...}}}} where NAME is one of {", ".join(schemas)} and "args" are its arguments.'
    )


# ask(messages, response_format) -> the model's text answer (the caller records it in the decision's session)
Ask = Callable[[list[dict[str, Any]], dict[str, Any]], str]


def fallback_action(
    tools: Sequence[ToolLike],
    answer: str,
    history: list[dict[str, Any]],
    ask: Ask,
    counter: ActCounter,
) -> str:
    """Apply one action from `answer`, or from one retry through `ask`; raise `NoAction` when none applies.

    Only for a model that called no tool at all: one whose tool calls were all refused already saw each error
    as the tool's answer, so its decision fails without another request. `history` is the last request the
    model saw (its answer is appended before the retry)."""
    if counter.calls:  # it did call tools (natively or ReAct-style): their errors went back to it already
        why = f"no tool call was applied ({counter.last_error})" if counter.last_error else "only read-only tools"
        raise NoAction(f"no action: {why}")
    schemas = action_schemas(tools)
    by_name = {t.name: t for t in tools}
    try:
        action = parse_action(answer, schemas)
    except ActionError as first:
        if not schemas:
            raise NoAction(f"no action: {first}") from None
        messages = [
            *history,
            {"role": "assistant", "content": answer or ""},
            {"role": "user", "content": retry_prompt(first, schemas)},
        ]
        retry = ask(messages, action_response_format(schemas))
        try:
            action = parse_action(retry if isinstance(retry, str) else "", schemas)
        except ActionError as second:
            raise NoAction(f"no action: {second} (answer: {_snippet(retry)})") from None
    before = counter.applied
    line = str(by_name[action.tool].run(**action.args))
    if counter.applied == before:
        raise NoAction(f"no action: {action.tool} was not applied: {line[:160]}")
    return line


def _snippet(text: Any) -> str:
    s = " ".join(str(text or "").split())
    return repr(s[:60] + ("..." if len(s) > 60 else ""))


def last_exchange(records: Sequence[Mapping[str, Any]], final_answer: Any = None) -> tuple[list[dict[str, Any]], str]:
    """(the last request the model saw, its text answer) from a decision's recorded calls; the crew's final
    answer stands in when the last call answered with tool calls only."""
    for rec in reversed(records):
        if rec.get("error"):
            continue
        messages = [dict(m) for m in rec.get("messages") or [] if isinstance(m, Mapping)]
        answer = rec.get("response")
        if not isinstance(answer, str):
            answer = str(final_answer or "")
        return messages, answer
    return [], str(final_answer or "")
