"""Run every streamer's decision concurrently, under a semaphore and a per-decision time limit.

A decision that raises or runs out of time leaves its stream exactly as it was: its settings, queued finetune
requests and spoken lines are rolled back to where they stood before it started (`StreamControl.mark`), and
any tool call it still makes afterwards is refused. The season
never stops because one agent failed.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policies.base import Policy
from tools.control import ActionRecord, StreamControl
from tools.observation import Observation
from tools.stream_tools import call_tool


@dataclass
class DecisionJob:
    stream_id: str
    policy: Policy
    observation: Observation
    control: StreamControl
    rng: np.random.Generator


@dataclass
class DecisionOutcome:
    stream_id: str
    ok: bool
    seconds: float
    error: str | None = None
    actions: list[ActionRecord] = field(default_factory=list)


_PREFIX = re.compile(r"^(?:litellm\.)?[A-Za-z_][\w.]*(?:Error|Exception)\s*:\s*")


def failure_reason(error: str | None) -> str:
    """An outcome's error as a short reason: the exception's name and its last, most specific message
    (litellm wraps one error in several prefixes: "X: litellm.X: X: OpenAIException - Connection error.")."""
    text = " ".join(str(error or "unknown error").split()).removeprefix("NoAction: ")  # says "no action: ..."
    kind = text.split(":", 1)[0] if _PREFIX.match(text) else ""
    while _PREFIX.match(text):
        text = _PREFIX.sub("", text, count=1)
    if " - " in text and re.match(r"^[A-Za-z]+Exception\b", text):
        text = text.split(" - ", 1)[1]
    text = text.rstrip(".")[:80] or "failed"
    return f"{kind}: {text}" if kind else text


def summarise_failures(outcomes: list[DecisionOutcome]) -> str | None:
    """One line for a round's failed decisions (how many and why, most frequent reason first), or None."""
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return None
    reasons = Counter(failure_reason(o.error) for o in failed)
    why = "; ".join(f"{n} x {r}" if n > 1 else r for r, n in reasons.most_common(3))
    more = f"; {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    return f"{len(failed)} of {len(outcomes)} decisions failed, those streams unchanged: {why}{more}"


class _Gate:
    """Closes the tool path of a decision once it failed or timed out."""

    def __init__(self) -> None:
        self._open = True
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._open = False

    @property
    def open(self) -> bool:
        with self._lock:
            return self._open


async def _run_one(job: DecisionJob, sem: asyncio.Semaphore, timeout: float) -> DecisionOutcome:
    async with sem:
        before = job.control.mark()
        gate = _Gate()

        def act(name: str, args: dict[str, Any]) -> str:
            if not gate.open:
                return "error: this decision has ended; the call was not applied"
            return call_tool(job.control, job.observation, name, args)

        t0 = time.perf_counter()
        error = None
        try:
            await asyncio.wait_for(job.policy.adecide(job.observation, act, job.rng), timeout)
        except TimeoutError:
            error = f"timed out after {timeout:g}s"
        except Exception as exc:  # an agent's failure is data, not a crash
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is not None:
            gate.close()
            job.control.rollback(before)
        return DecisionOutcome(
            stream_id=job.stream_id,
            ok=error is None,
            seconds=time.perf_counter() - t0,
            error=error,
            actions=job.control.drain_actions(),
        )


async def decide_all_async(jobs: list[DecisionJob], max_parallel: int, timeout: float) -> list[DecisionOutcome]:
    sem = asyncio.Semaphore(max_parallel)
    return list(await asyncio.gather(*(_run_one(j, sem, timeout) for j in jobs)))


def decide_all(jobs: list[DecisionJob], max_parallel: int = 4, timeout: float = 30.0) -> list[DecisionOutcome]:
    """Blocking wrapper for the season loop; outcomes come back in job order."""
    return asyncio.run(decide_all_async(jobs, max_parallel, timeout))
