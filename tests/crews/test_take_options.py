"""`take_options`: the arena's lettered options applied through the decision's own `act`, and the `options`
baseline that takes them all (what the model's choices are compared against)."""

from __future__ import annotations

import numpy as np

from crews.crew_tools import TOOL_LIMIT_TEXT, OptionsTool, make_tools, offered_schemas, specialise
from crews.recording import CallSession
from media.settings import StreamSettings
from policies.baselines import OptionsPolicy
from tests.crews.test_observation_text import obs
from tools.options import round_options

STALLED = dict(stall_seconds=1.5, device_load=1.4, settings=StreamSettings(prompt="forest", fps=10.0).model_dump())


def _options_tool(o, session=None):
    calls: list[tuple[str, dict]] = []
    tools = make_tools(lambda name, args: calls.append((name, args)) or "ok", session, o)
    specialise(tools, o)
    [tool] = [t for t in tools if isinstance(t, OptionsTool)]
    return tool, calls


def test_taking_letters_applies_their_calls_once_in_offered_order():
    o = obs(**STALLED)
    letters = [x.letter for x in round_options(o)]
    assert letters == ["A", "B"]  # a still picture, then the overload
    tool, calls = _options_tool(o)
    out = tool.run(options=["B", "A"])
    assert calls == [("move_camera", {"zoom_per_second": 1.1}), ("tune_generator", {"fps": 7.0})]
    assert tool.run(options=["B"]) == "B: already taken this round" and len(calls) == 2
    assert out.startswith("A: ok")


def test_a_letter_not_offered_changes_nothing_and_says_which_are():
    tool, calls = _options_tool(obs(**STALLED))
    assert "(A, B)" in tool.run(options=["Z"]) and calls == []
    assert tool.run(options="nonsense").startswith("error: options") and calls == []


def test_it_counts_as_one_call_of_the_round_budget():
    session = CallSession(actor="s01", round=4, purpose="decision", tool_budget=1)
    tool, calls = _options_tool(obs(**STALLED), session)
    tool.run(options=["A", "B"])
    assert len(calls) == 2
    tool.offer(round_options(obs(**STALLED)))
    assert tool.run(options=["A"]) == TOOL_LIMIT_TEXT and len(calls) == 2


def test_no_options_no_tool_and_the_schema_admits_only_offered_letters():
    fine = obs(device_load=0.8, perceived_topic="ocean waves", perceived={"motion": 0.5}, ern_terms={})
    assert round_options(fine) == []
    assert "take_options" not in [t.name for t in make_tools(lambda n, a: "ok", None, fine)]
    assert "take_options" not in offered_schemas(fine)
    schema = offered_schemas(obs(**STALLED))["take_options"].model_json_schema()
    assert schema["properties"]["options"]["items"]["enum"] == ["A", "B"]
    assert schema["properties"]["options"]["maxItems"] == 2


def test_the_options_baseline_takes_every_option():
    calls: list[tuple[str, dict]] = []
    OptionsPolicy().decide(obs(**STALLED), lambda n, a: calls.append((n, a)) or "ok", np.random.default_rng(0))
    assert [c[0] for c in calls] == ["move_camera", "tune_generator"]
    calls.clear()
    OptionsPolicy().decide(
        obs(device_load=0.8, perceived_topic="ocean waves", perceived={"motion": 0.5}, ern_terms={}),
        lambda n, a: calls.append((n, a)) or "ok",
        np.random.default_rng(0),
    )
    assert calls == []
