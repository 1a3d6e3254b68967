"""Record every LLM request/response of a decision, and enforce its token and tool-call budgets.

Why a wrapper around `crewai.LLM.call/acall` and not litellm's logging callbacks: litellm fires async success
callbacks as background tasks, after the call has returned, so a record could land in the wrong round or be
lost on a timeout; and a budget must be checked *before* the next request, on the decision's own path. The
wrapper sees exactly what crewai asks (messages + tools offered) and exactly what it gets back (text or
tool calls), which is also what the replay provider must reproduce.

Crews never touch the database: records stay in a `CallSession`, the policy hands them to the arena, and
the arena writes them as `llm_call` events.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from crewai import LLM
from pydantic import PrivateAttr

from crews.llm import response_format as formats

BUDGET_STOP_TEXT = "Stopping: this round's {what} budget is spent. Final answer: done for this round."


class DecisionClosed(RuntimeError):
    """The decision ended (timeout or failure); a thread still running must not call the model again."""


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _args_object(arguments: Any) -> Any:
    """Tool-call arguments as the object the model meant, when they parse; else the raw text."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments[:200]
    return arguments


def message_text(msg: Any) -> str:
    content = msg.get("content") if isinstance(msg, dict) else getattr(msg, "content", None)
    if isinstance(content, list):  # multi-part content: keep the text parts only
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def request_fingerprint(messages: Any, tools: list[dict] | None) -> str:
    """What must match between a recorded request and a replayed one: roles, texts, tool names.

    Tool-call ids and provider formatting are left out on purpose: they are not decisions."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    parts = [[(m.get("role") if isinstance(m, dict) else getattr(m, "role", "")), message_text(m)] for m in messages]
    names = sorted(tool_names(tools))
    return hashlib.sha256(json.dumps([parts, names], ensure_ascii=False).encode()).hexdigest()[:16]


def tool_names(tools: list[dict] | None) -> list[str]:
    out = []
    for t in tools or []:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        if isinstance(fn, dict) and fn.get("name"):
            out.append(str(fn["name"]))
    return out


def tool_calls_to_dicts(calls: Any) -> list[dict[str, Any]]:
    out = []
    for c in calls or []:
        fn = c.get("function") if isinstance(c, dict) else getattr(c, "function", None)
        name = fn.get("name") if isinstance(fn, dict) else getattr(fn, "name", None)
        args = fn.get("arguments") if isinstance(fn, dict) else getattr(fn, "arguments", None)
        cid = c.get("id") if isinstance(c, dict) else getattr(c, "id", None)
        out.append({"id": cid, "name": name, "arguments": args if isinstance(args, str) else json.dumps(args)})
    return out


def call_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost from litellm's (local) cost map; 0 for models it does not price (embedded, replay, scripted)."""
    try:
        import litellm  # deferred, not a cycle: litellm takes seconds to import and crewai does not need it

        p, c = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return float(p + c)
    except Exception:
        return 0.0


@dataclass
class CallSession:
    """One actor's LLM traffic for one purpose in one round (a decision, a persona completion, a mutation).

    `actor` + `round` + `purpose` + the call index form the replay key. `token_budget` counts prompt +
    completion tokens; `tool_budget` counts tool calls (the tools report them through `count_tool_call`)."""

    actor: str
    round: int
    purpose: str = "decision"
    token_budget: int | None = None
    tool_budget: int | None = None
    on_unknown_tool: Callable[[str, Any], None] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    tokens_used: int = 0
    tool_calls: int = 0
    stopped: str | None = None  # why the session stopped asking the model, if it did
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def count_tool_call(self) -> bool:
        """Claim one tool call; False once the round's tool budget is spent."""
        with self._lock:
            if self.tool_budget is not None and self.tool_calls >= self.tool_budget:
                return False
            self.tool_calls += 1
            return True

    def budget_stop(self) -> str | None:
        with self._lock:
            if self.token_budget is not None and self.tokens_used >= self.token_budget:
                return "token"
            if self.tool_budget is not None and self.tool_calls >= self.tool_budget:
                return "tool-call"
            return None

    def next_index(self) -> int:
        with self._lock:
            return len(self.records)

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            if not self._closed:
                self.records.append(record)
            self.tokens_used += int(record.get("total_tokens", 0))

    def metadata(self, index: int) -> dict[str, Any]:
        return {"totoroid": {"actor": self.actor, "round": self.round, "purpose": self.purpose, "index": index}}


@dataclass
class _Pending:
    """One call in flight: the budget-stop text that replaces it, or the result to record."""

    stop: str | None = None
    result: Any = None


class RecordingLLM(LLM):
    """A `crewai.LLM` (litellm path) that records each call into its `CallSession` and stops on budgets."""

    _session: CallSession | None = PrivateAttr(default=None)

    def bind(self, session: CallSession) -> RecordingLLM:
        self._session = session
        return self

    @property
    def session(self) -> CallSession | None:
        return self._session

    def _validate_call_params(self) -> None:
        # crewai refuses response_format for models missing from litellm's map (custom providers, local
        # servers); let litellm/the provider decide, and let the caller's retry/fallback handle a refusal.
        return None

    def _begin(self, messages: Any, tools: list[dict] | None) -> tuple[CallSession | None, int, str | None]:
        s = self._session
        if s is None:
            return None, 0, None
        if s.closed:
            raise DecisionClosed(f"{s.actor} round {s.round}: decision already ended")
        why = s.budget_stop()
        if why is not None:
            s.stopped = why
            return s, s.next_index(), BUDGET_STOP_TEXT.format(what=why)
        index = s.next_index()
        self.additional_params["metadata"] = s.metadata(index)
        return s, index, None

    def _record(
        self,
        s: CallSession,
        index: int,
        messages: Any,
        tools: list[dict] | None,
        result: Any,
        error: BaseException | None,
        usage_before: dict[str, int],
        seconds: float,
    ) -> None:
        after = dict(self._token_usage)
        prompt = after.get("prompt_tokens", 0) - usage_before.get("prompt_tokens", 0)
        completion = after.get("completion_tokens", 0) - usage_before.get("completion_tokens", 0)
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        calls = tool_calls_to_dicts(result) if isinstance(result, list) else []
        rec = {
            "actor": s.actor,
            "round": s.round,
            "purpose": s.purpose,
            "index": index,
            "model": self.model,
            "messages": _jsonable(messages),
            "tools": tool_names(tools),
            "fingerprint": request_fingerprint(messages, tools),
            "response": None if error is not None or isinstance(result, list) else _jsonable(result),
            "tool_calls": calls,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost": call_cost(self.model, prompt, completion),
            "latency_s": round(seconds, 4),
            "error": None if error is None else f"{type(error).__name__}: {error}"[:500],
        }
        s.add(rec)
        offered = set(tool_names(tools))
        if s.on_unknown_tool is not None:
            for c in calls:  # crewai answers "Tool not found" without calling a tool; the arena still logs it
                if c["name"] not in offered:
                    s.on_unknown_tool(str(c["name"])[:80], _args_object(c["arguments"]))

    def _first_format(self) -> tuple[bool, dict[str, Any] | None]:
        """(whether this call asks for structured output, the form the endpoint is known to take)."""
        fmt = self.additional_params.get("response_format")
        if fmt is not None and self.api_base and not formats.known(self.model, self.api_base):
            formats.probe_endpoint(self.model, self.api_base, self.api_key, timeout=float(self.timeout or 30))
        return fmt is not None, formats.for_endpoint(self.model, self.api_base, fmt)

    def _next_format(self, fmt: dict[str, Any] | None, exc: Exception) -> dict[str, Any] | None:
        """After a failed attempt: the next weaker response format, or re-raise `exc`."""
        lower = formats.weaker(fmt) if formats.is_format_refusal(exc) else "exhausted"
        if lower == "exhausted":
            raise exc
        return lower  # type: ignore[return-value]

    def _call_in_formats(self, fn: Callable[[], Any]) -> Any:
        """`fn()` with the response format the endpoint takes: stepped down after each refusal of it."""
        structured, fmt = self._first_format()
        if not structured:
            return fn()
        while True:
            self._set_format(fmt)
            try:
                out = fn()
            except Exception as exc:
                fmt = self._next_format(fmt, exc)
                continue
            formats.remember(self.model, self.api_base, fmt)
            return out

    async def _acall_in_formats(self, fn: Callable[[], Any]) -> Any:
        structured, fmt = self._first_format()
        if not structured:
            return await fn()
        while True:
            self._set_format(fmt)
            try:
                out = await fn()
            except Exception as exc:
                fmt = self._next_format(fmt, exc)
                continue
            formats.remember(self.model, self.api_base, fmt)
            return out

    def _set_format(self, fmt: dict[str, Any] | None) -> None:
        if fmt is None:
            self.additional_params.pop("response_format", None)
        else:
            self.additional_params["response_format"] = fmt

    @contextmanager
    def _recorded(self, messages: Any, tools: list[dict] | None) -> Iterator[_Pending]:
        """Budget check before a call, record after it (also when it raises); shared by call and acall."""
        s, index, stop = self._begin(messages, tools)
        pending = _Pending(stop=stop)
        if stop is not None or s is None:
            yield pending
            return
        before, t0 = dict(self._token_usage), time.perf_counter()
        try:
            yield pending
        except BaseException as exc:
            self._record(s, index, messages, tools, None, exc, before, time.perf_counter() - t0)
            raise
        self._record(s, index, messages, tools, pending.result, None, before, time.perf_counter() - t0)

    def call(
        self,
        messages: Any,
        tools: list[dict] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> Any:
        with self._recorded(messages, tools) as rec:
            if rec.stop is not None:
                return rec.stop
            rec.result = self._call_in_formats(
                lambda: super(RecordingLLM, self).call(
                    messages, tools, callbacks, available_functions, from_task, from_agent, response_model
                )
            )
        return rec.result

    async def acall(
        self,
        messages: Any,
        tools: list[dict] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> Any:
        with self._recorded(messages, tools) as rec:
            if rec.stop is not None:
                return rec.stop
            rec.result = await self._acall_in_formats(
                lambda: super(RecordingLLM, self).acall(
                    messages, tools, callbacks, available_functions, from_task, from_agent, response_model
                )
            )
        return rec.result
