"""Step a structured-output request down to what an OpenAI-compatible server accepts.

Why: OpenAI and the embedded model take `response_format: {"type": "json_schema", ...}`; llama-cpp-python's
server rejects that type (HTTP 422) but takes `{"type": "json_object", "schema": ...}` and constrains its
output to the schema; some servers take only a plain `json_object`. What an endpoint takes is remembered
(per model and api_base, for the process), so later calls ask in the accepted form at once.

Why a probe for an `api_base` endpoint (`probe_endpoint`: one request of one token per form, at its first
structured call) instead of learning from the refusal: crewai turns litellm's `drop_params` on, and with it
litellm's OpenAI handler answers a 422 it cannot drop a parameter for by retrying the same request and then
returning nothing (crewai then fails on `None.choices`), so the refusal itself never reaches the caller.
A refusal that does arrive (a 400) still steps the format down (`is_format_refusal`, `weaker`).
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
_ACCEPTED: dict[tuple[str, str], str] = {}  # (model, api_base) -> the strongest format kind it took
_ORDER = ("json_schema", "json_object_schema", "json_object", "none")


def _kind(fmt: dict[str, Any] | None) -> str:
    if not isinstance(fmt, dict):
        return "none"
    if fmt.get("type") == "json_schema":
        return "json_schema"
    if fmt.get("type") == "json_object":
        return "json_object_schema" if "schema" in fmt else "json_object"
    return "none"


def _schema(fmt: dict[str, Any]) -> dict[str, Any] | None:
    if fmt.get("type") == "json_schema":
        js = fmt.get("json_schema") or {}
        return js.get("schema") if isinstance(js, dict) else None
    return fmt.get("schema")


def as_kind(fmt: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """`fmt` rewritten as `kind` (never stronger than it was); None: send no response_format at all."""
    if fmt is None or _ORDER.index(kind) <= _ORDER.index(_kind(fmt)):
        return fmt
    schema = _schema(fmt)
    if kind == "json_object_schema" and schema is not None:
        return {"type": "json_object", "schema": schema}
    if kind in ("json_object_schema", "json_object"):
        return {"type": "json_object"}
    return None


def weaker(fmt: dict[str, Any] | None) -> dict[str, Any] | None | str:
    """The next weaker form of `fmt`, or the string "exhausted" when nothing weaker is left."""
    kind = _kind(fmt)
    if kind == "none":
        return "exhausted"
    nxt = _ORDER[_ORDER.index(kind) + 1]
    if nxt == "json_object_schema" and _schema(fmt or {}) is None:
        nxt = "json_object"
    return as_kind(fmt, nxt)


# llama-cpp-python's server answers a response_format it does not know with HTTP 500 (its validation error in the
# body); OpenAI-style servers with 400 or 422. Only an answer that names the format counts as its refusal.
_REFUSALS = (400, 422, 500)


def is_format_refusal(exc: BaseException) -> bool:
    """An HTTP error that names the response format (not a refusal of the prompt, the model or the key)."""
    status = getattr(exc, "status_code", None)
    if status not in _REFUSALS and "badrequest" not in type(exc).__name__.lower():
        return False
    return _names_format(str(exc))


def _names_format(text: str) -> bool:
    text = text.lower()
    return any(w in text for w in ("response_format", "json_schema", "response format", "json_object"))


def for_endpoint(model: str, api_base: str | None, fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    """`fmt` as the endpoint is known to accept it (unchanged when nothing is known yet)."""
    with _LOCK:
        kind = _ACCEPTED.get((model, api_base or ""))
    return fmt if kind is None else as_kind(fmt, kind)


def remember(model: str, api_base: str | None, fmt: dict[str, Any] | None) -> None:
    """The endpoint took `fmt` after refusing a stronger form."""
    with _LOCK:
        _ACCEPTED[(model, api_base or "")] = _kind(fmt)


def known(model: str, api_base: str | None) -> bool:
    with _LOCK:
        return (model, api_base or "") in _ACCEPTED


def probe_endpoint(model: str, api_base: str, api_key: str | None, timeout: float = 30.0) -> str | None:
    """Ask `api_base` for one token in each form, strongest first; remember and return the first it takes
    (None: the endpoint could not be asked; nothing is remembered and the real call says what is wrong)."""
    import httpx  # deferred: only a remote endpoint pays for it

    name = model.split("/", 1)[1] if "/" in model else model
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    forms = [
        {"type": "json_schema", "json_schema": {"name": "probe", "schema": schema}},
        {"type": "json_object", "schema": schema},
        {"type": "json_object"},
    ]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    for fmt in forms:
        body = {
            "model": name,
            "messages": [{"role": "user", "content": 'Answer {"ok": true}'}],
            "max_tokens": 1,
            "response_format": fmt,
        }
        try:
            resp = httpx.post(f"{api_base.rstrip('/')}/chat/completions", json=body, headers=headers, timeout=timeout)
        except (httpx.HTTPError, OSError):
            return None
        if resp.status_code == 200:
            remember(model, api_base, fmt)
            return _kind(fmt)
        if resp.status_code not in _REFUSALS or not _names_format(resp.text):
            return None  # not about the format (a key, a model name, the server): the real call reports it
    remember(model, api_base, None)
    return "none"


def forget_all() -> None:
    """Tests: start from an endpoint nothing is known about."""
    with _LOCK:
        _ACCEPTED.clear()
