"""A non-embedded OpenAI-compatible endpoint drives the agents: through litellm over real HTTP to a local stub
that replays the llama-cpp-python server's recorded answers (tests/crews/fixtures/llamacpp/, recorded by
`test_llamacpp_live.py`). What the real server did: answered the decision in prose (no tool call), refused
`response_format: json_schema` (HTTP 500 with a validation error), took `json_object` with a schema. Also: an unreachable
endpoint fails each decision quietly (no crewai panel) and is summarised in one line; the start-up preflight.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

import crews  # noqa: F401  (first: network features off before litellm is imported)
from crews.llm import response_format as formats
from crews.llm.preflight import endpoint_problem
from crews.llm_config import LLMSection
from crews.llm_policy import LLMPolicy
from media.settings import GeneratorLimits, StreamSettings
from policies.decide import DecisionJob, decide_all, summarise_failures
from tests.crews.openai_stub import FIXTURES, Exchange, StubServer
from tools.control import StreamControl
from tools.observation import Observation, TrendView


def job(policy, slot="s01"):
    lim = GeneratorLimits()
    ctl = StreamControl(slot, StreamSettings(), lim)
    obs = Observation(
        stream_id=slot,
        name="Old Beacon",
        round=1,
        rounds_total=4,
        rounds_to_relegation=2,
        persona_summary="a retired lighthouse keeper",
        settings=ctl.current_settings().model_dump(),
        limits=lim.model_dump(),
        trends=[TrendView(id="t1", title="storm at sea", topic="storms", viewers=9)],
    )
    return DecisionJob(slot, policy, obs, ctl, np.random.default_rng(0))


def recorded(prefix: str) -> list[Exchange]:
    return [Exchange.load(p.stem) for p in sorted(FIXTURES.glob(f"{prefix}_*.json"))]


def policy(api_base: str) -> LLMPolicy:
    return LLMPolicy(LLMSection(model="openai/smollm2", api_base=api_base, timeout_seconds=20, max_tokens=400))


@pytest.fixture(autouse=True)
def fresh_endpoints(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs none (a placeholder is sent)
    formats.forget_all()
    yield
    formats.forget_all()


def _is_probe(ex: Exchange) -> bool:
    return (ex.request or {}).get("max_tokens") == 1


def test_the_recordings_are_what_the_real_server_did():
    decision = recorded("decision")
    prose, action = decision[0], decision[-1]
    assert prose.status == 200 and not prose.body["choices"][0]["message"].get("tool_calls")
    assert "{" not in prose.body["choices"][0]["message"]["content"]  # prose, no JSON action in it
    refused = [ex for ex in decision if ex.status >= 400]  # llama-cpp-python: HTTP 500 with its validation error
    assert refused and all(ex.request["response_format"]["type"] == "json_schema" for ex in refused)
    assert action.request["response_format"]["type"] == "json_object" and "schema" in action.request["response_format"]


def test_a_prose_answer_becomes_one_validated_action_through_act():
    exchanges = recorded("decision")
    with StubServer(exchanges) as stub:
        pol = policy(stub.api_base)
        j = job(pol)
        before = j.control.current_settings()
        [out] = decide_all([j], 1, 60)
        sent = stub.chat_requests
    assert out.ok, out.error
    applied = [a for a in out.actions if a.ok]
    assert len(applied) == 1 and applied[0].result.startswith("ok")  # recorded like any tool call
    assert j.control.current_settings() != before or j.control.speech
    assert len(sent) == len(exchanges)  # the same requests the real server got, in order
    assert [r.get("response_format", {}).get("type") for r in sent] == [
        (ex.request or {}).get("response_format", {}).get("type") for ex in exchanges
    ]
    assert "That was not a usable action (no JSON object found" in sent[-1]["messages"][-1]["content"]
    records = pol.drain_records()
    assert [r["response"] is not None for r in records] == [True, True]  # the prose, then the action
    assert json.loads(records[-1]["response"])["tool"] == applied[0].tool


def test_a_decision_with_no_action_after_the_retry_is_a_failure_the_user_sees():
    decision = recorded("decision")
    prose = decision[0]
    probes = [ex for ex in decision if _is_probe(ex)]
    with StubServer([prose, *probes, prose]) as stub:  # the retry answered in prose again
        j = job(policy(stub.api_base))
        before = j.control.current_settings()
        [out] = decide_all([j], 1, 60)
    assert not out.ok and out.error.startswith("NoAction: no action: no JSON object found")
    assert j.control.current_settings() == before and not out.actions
    line = summarise_failures([out])
    assert line.startswith("1 of 1 decisions failed, those streams unchanged: no action: no JSON object found")


def test_an_endpoint_answers_in_the_form_it_took_once_learned():
    decision = recorded("decision")
    probes = [ex for ex in decision if _is_probe(ex)]
    with StubServer([*probes, decision[-1], decision[-1]]) as stub:
        pol = policy(stub.api_base)
        fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
        complete = pol.completer("s01", 0, "test")
        complete([{"role": "user", "content": "hi"}], fmt)
        complete([{"role": "user", "content": "again"}], fmt)
        sent = stub.chat_requests
    assert len(sent) == len(probes) + 2  # probed once per endpoint, not per call
    assert sent[-1]["response_format"] == {"type": "json_object", "schema": {"type": "object"}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_fails_each_decision_quietly_and_in_one_line(capfd, caplog):
    pol = policy(f"http://127.0.0.1:{_closed_port()}/v1")
    outcomes = decide_all([job(pol, "s01"), job(pol, "s02")], 2, 60)
    assert [o.ok for o in outcomes] == [False, False]
    captured = capfd.readouterr()
    noise = captured.out + captured.err + caplog.text
    for panel in ("╭", "LLM Error", "LLM Call Failed", "Error executing listener", "Give Feedback"):
        assert panel not in noise, noise[-2000:]
    line = summarise_failures(outcomes)
    assert line is not None and "\n" not in line
    assert line.startswith("2 of 2 decisions failed, those streams unchanged: 2 x ") and "Connection error" in line


def test_preflight_names_an_endpoint_that_cannot_be_reached():
    with StubServer() as stub:
        assert endpoint_problem("openai/smollm2", stub.api_base) is None
    base = f"http://127.0.0.1:{_closed_port()}/v1"
    assert endpoint_problem("openai/smollm2", base) == (
        f"llm endpoint {base} cannot be reached: connection refused (is the server running on that port?)"
    )


def test_preflight_needs_no_endpoint_for_embedded_or_replay_and_a_key_for_hosted_models():
    assert endpoint_problem("embedded/smollm2-135m", None) is None
    assert endpoint_problem("replay:season-1", None) is None
    problem = endpoint_problem("openai/gpt-4o-mini", None)
    assert problem is not None and "OPENAI_API_KEY" in problem and "not set" in problem
