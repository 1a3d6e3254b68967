"""`policy: llm`: each round every streamer's crewai Agent gets one Task and acts through the stream tools.

Why the policy holds the records instead of writing them: crews never touch the database. Each decision
gets its own `CallSession`; the arena drains the sessions of a round after `decide_all` and writes them as
`llm_call` events, including the calls of a decision that failed or timed out (they explain the failure).

Why `Crew.kickoff` in a daemon thread and not crewai's native async path: crewai's tool loop makes blocking
LLM calls; in a thread they cannot stall the other streamers' decisions, and `decide_all`'s timeout can
abandon a slow one. An abandoned thread finds its session closed at its next LLM call and stops there; any
tool call it still makes is refused by the decision's gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from agents.persona import Persona
from crews.agent import build_agent, build_crew, build_task
from crews.crew_tools import make_tools
from crews.llm.embedded_model import get_model
from crews.llm.json_action import ActCounter, fallback_action, last_exchange
from crews.llm_config import LLMSection, build_llm, is_embedded
from crews.llm_replay import register_replay
from crews.recording import CallSession
from crews.reflection import parse_reflection, reflection_format, reflection_messages
from policies.base import Act, Completer, Policy
from tools.observation import Observation, ReflectionRequest


async def _in_daemon_thread(fn: Any) -> Any:
    """Run blocking `fn` in a daemon thread and await it.

    Not `asyncio.to_thread` (what `Crew.kickoff_async` uses): `asyncio.run` joins the default executor's
    threads before it returns, so one abandoned decision stuck in a slow model call would hold the whole
    round past its timeout. A daemon thread is simply left behind; its session is closed, so it stops at
    its next LLM call, and its decision's gate refuses any tool call it still makes."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            fut.set_result(value) if ok else fut.set_exception(value)

    def work() -> None:
        try:
            result, ok = fn(), True
        except BaseException as exc:  # handed to the awaiting decision
            result, ok = exc, False
        try:
            loop.call_soon_threadsafe(settle, ok, result)
        except RuntimeError:  # the loop is gone: the decision was abandoned long ago
            pass

    threading.Thread(target=work, name="llm-decision", daemon=True).start()
    return await fut


PERSONA_MAX_TOKENS = 320  # a persona answer's JSON with every string at its schema cap fits in this


class LLMPolicy(Policy):
    name = "llm"

    def __init__(self, section: LLMSection | None = None, model: str | None = None):
        self.section = section or LLMSection()
        self.model = model or self.section.model
        self.brief = self.section.brief_for(self.model)  # replay: decided by the recorded model (replay())
        self.personas: dict[str, Persona] = {}  # slot -> persona, from meet_streamers before each round
        self._sessions: list[CallSession] = []
        self._lock = threading.Lock()

    def prepare(self) -> dict[str, Any] | None:
        """Load the embedded model before round 1 (crewai came with this module); remote and replayed models need
        nothing."""
        if not is_embedded(self.model):
            return None
        t = time.perf_counter()
        m = get_model(self.model)
        m.generate(m.tokenizer.encode("Hello"), max_new_tokens=1)  # first forward pass initialises the kernels
        # The provider's first import (its grammar library brings torch's compiler modules) took 1.1 s inside the
        # round's first decision, blocking the event loop before the other decisions started (bench/agents.py).
        from crews.llm.provider import warm_up  # deferred like build_llm's: loaded with torch and litellm

        warm_up(self.model)
        return {
            "model": self.model,
            "dtype": m.dtype,
            "loaded_from": m.loaded_from,
            "seconds": round(time.perf_counter() - t, 3),
        }

    def meet_streamers(self, personas: Mapping[str, Persona]) -> None:
        self.personas = dict(personas)

    def replay(self, season: str, records: list[Any]) -> None:
        """Every later call is answered from `season`'s recorded traffic (a mismatch is the decision's error)."""
        self.model = register_replay(season, records)
        recorded = next((str(r.get("model")) for r in records if r.get("purpose") == "decision"), None)
        if recorded is not None:  # the same observation text as the recorded requests, or they cannot match
            self.brief = self.section.brief_for(recorded)

    # ---- records ----------------------------------------------------------------------------------------------
    def drain_records(self) -> list[dict[str, Any]]:
        """Every recorded call since the last drain, decision by decision (then call order)."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        sessions.sort(key=lambda s: (s.round, s.actor))
        return [r for s in sessions for r in s.records]

    def sessions(self) -> list[CallSession]:
        with self._lock:
            return list(self._sessions)

    # ---- persona generation (called by the arena at spawn) -----------------------------------------------------
    def completer(self, actor: str, round_number: int, purpose: str) -> Completer:
        """A `agents.llm_persona.Complete` whose calls are recorded (and replayable) like the decisions'."""
        session = CallSession(actor=actor, round=round_number, purpose=purpose)
        with self._lock:
            self._sessions.append(session)

        # A persona answer is two or three capped sentences: ~70 tokens on average, but a long backstory took
        # the decisions' 160 and the answer was cut (bench/personas.py); it gets the room it needs.
        budget = max(self.section.max_tokens, PERSONA_MAX_TOKENS)

        def complete(messages: list[dict[str, str]], response_format: dict[str, Any]) -> str:
            llm = build_llm(self.section, model=self.model, response_format=response_format, max_tokens=budget)
            llm = llm.bind(session)
            out = llm.call(messages)
            if not isinstance(out, str):  # a model that answered with a tool call: not a persona
                raise ValueError(f"expected a JSON text answer, got {type(out).__name__}")
            return out

        return complete

    # ---- reflections at a relegation window ---------------------------------------------------------------------
    def reflect_all(self, requests: list[ReflectionRequest]) -> dict[str, str]:
        """Every streamer's lessons and plan, written concurrently (the embedded model serves them from the
        loop's host thread, like decisions), each call recorded under purpose "reflection" and replayable."""
        return asyncio.run(self._reflect_all(requests))

    async def _reflect_all(self, requests: list[ReflectionRequest]) -> dict[str, str]:
        async def one(req: ReflectionRequest) -> tuple[str, str]:
            session = CallSession(actor=req.stream_id, round=req.round, purpose="reflection")
            with self._lock:
                self._sessions.append(session)
            llm = build_llm(self.section, model=self.model, response_format=reflection_format(req, self.brief))
            llm = llm.bind(session)
            try:
                with self._model_host():  # one hosted decision per reflection: the host batches them by key
                    out = await _in_daemon_thread(lambda: llm.call(reflection_messages(req)))
                return req.stream_id, parse_reflection(out)
            except Exception:  # noqa: BLE001 - a failed reflection keeps the old one; its call is recorded
                return req.stream_id, ""
            finally:
                session.close()

        pairs = await asyncio.gather(*(one(r) for r in requests))
        return {sid: text for sid, text in pairs if text}

    # ---- one decision -----------------------------------------------------------------------------------------
    def _session(self, obs: Observation, act: Act) -> CallSession:
        s = CallSession(
            actor=obs.stream_id,
            round=obs.round,
            purpose="decision",
            token_budget=self.section.token_budget,
            tool_budget=self.section.max_tool_calls,
            on_unknown_tool=lambda name, args: act(name, args),
        )  # recorded as a failed action
        with self._lock:
            self._sessions.append(s)
        return s

    def _crew(self, obs: Observation, act: Act, session: CallSession):
        persona = self.personas.get(obs.stream_id)
        llm = build_llm(self.section, model=self.model).bind(session)
        agent = build_agent(
            name=obs.name,
            character=getattr(persona, "character", None) or obs.persona_summary,
            goals=list(getattr(persona, "goals", []) or []),
            survival_motive=getattr(persona, "survival_motive", None),
            backstory=getattr(persona, "backstory", None),
            llm=llm,
            tools=make_tools(act, session),
            max_iter=self.section.max_tool_calls + 1,
            traits=obs.persona_traits,
            visual_style=obs.persona_style,
        )
        return build_crew(agent, build_task(obs, agent, getattr(persona, "survival_motive", None), self.brief))

    async def adecide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        counted = ActCounter(act)  # which calls changed the stream: none -> the JSON-action fallback
        session = self._session(obs, counted)
        crew = self._crew(obs, counted, session)
        try:
            with self._model_host():
                out = await _in_daemon_thread(crew.kickoff)
                if not counted.applied:  # prose instead of a tool call: one JSON action, or a failed decision
                    await _in_daemon_thread(lambda: self._json_action(session, crew, out, counted))
        finally:
            session.close()  # also on timeout (CancelledError): the worker thread stops at its next LLM call

    def _json_action(self, session: CallSession, crew: Any, out: Any, counted: ActCounter) -> str:
        """Apply the one action a tool-less answer holds (or one retry's), through this decision's tools."""

        def ask(messages: list[dict[str, Any]], response_format: dict[str, Any]) -> str:
            llm = build_llm(self.section, model=self.model, response_format=response_format).bind(session)
            return llm.call(messages)

        last, answer = last_exchange(session.records, getattr(out, "raw", None))
        return fallback_action(crew.agents[0].tools or [], answer, last, ask, counted)

    def _model_host(self):
        """The embedded model runs on this event loop's thread while decisions await it (host_thread)."""
        if not is_embedded(self.model):
            return contextlib.nullcontext()
        return get_model(self.model).host.hosted_by(asyncio.get_running_loop())

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        asyncio.run(self.adecide(obs, act, rng))
