"""Before a season starts: can the configured LLM endpoint be used at all? One line when it cannot.

Why fatal (the CLI turns the line into a `ConfigError`, exit 2, before anything is written): a season whose
every decision fails plays like a `hold` season and stores nothing useful, and the usual cause (a server not
started, a wrong port, a missing key) is a configuration mistake the user fixes in seconds. Failures *during*
a season are different: the round reports them in one line and the season goes on.

What is checked, without sending a prompt: an `api_base` answers HTTP at all (`GET {api_base}/models`, what
every OpenAI-compatible server serves; any HTTP answer but a server error or a refused key counts as
reachable); a hosted provider without `api_base` has its key in the environment (litellm's own table of the
variables each provider needs). The embedded model and `replay:` need no endpoint.
"""

from __future__ import annotations

import os
from typing import Any

from crews.llm.names import is_embedded

PROBE_SECONDS = 5.0


def _reason(exc: BaseException) -> str:
    import httpx  # deferred: only a season with a remote LLM pays for it

    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {PROBE_SECONDS:g}s"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "refused" in text.lower():
            return "connection refused (is the server running on that port?)"
        return text.split("] ", 1)[-1] or "cannot connect"
    return f"{type(exc).__name__}: {exc}"[:160]


def probe(api_base: str, timeout: float = PROBE_SECONDS, headers: dict[str, str] | None = None) -> str | None:
    """Why `api_base` cannot be used, or None when it answered."""
    import httpx

    url = api_base.rstrip("/") + "/models"
    try:
        resp = httpx.get(url, timeout=timeout, headers=headers or {}, follow_redirects=True)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return f"llm endpoint {api_base} cannot be reached: {_reason(exc)}"
    if resp.status_code in (401, 403) and headers:  # without a key sent, a refusal says nothing yet
        return (
            f"llm endpoint {api_base} refused the request (HTTP {resp.status_code}): set the provider's key in "
            "the environment (e.g. OPENAI_API_KEY)"
        )
    if resp.status_code >= 500:
        return f"llm endpoint {api_base} answered HTTP {resp.status_code} ({resp.reason_phrase}) to {url}"
    return None


def missing_keys(model: str) -> list[str]:
    """Environment variables litellm says `model`'s provider needs and that are not set."""
    try:
        import litellm  # deferred: seconds to import

        info: dict[str, Any] = litellm.validate_environment(model=model)
    except Exception:  # an unknown provider: litellm itself will say so at the first call
        return []
    return [str(k) for k in info.get("missing_keys") or []]


def endpoint_problem(model: str, api_base: str | None, timeout: float = PROBE_SECONDS) -> str | None:
    """One line saying why the season's LLM cannot be used, or None (also for embedded and replay models)."""
    if is_embedded(model) or model.startswith("replay:"):
        return None
    if api_base:
        key = os.environ.get("OPENAI_API_KEY") if model.startswith("openai/") else None
        return probe(api_base, timeout, {"Authorization": f"Bearer {key}"} if key else None)
    keys = missing_keys(model)
    if keys:
        return f"llm {model}: {', '.join(keys)} not set in the environment (keys never go in the season YAML)"
    return None
