"""`take_options`: the arena's lettered options applied through the decision's own `act`, and the `options`
baseline that takes them all (what the model's choices are compared against)."""

from __future__ import annotations

import numpy as np
import pytest

from crews.crew_tools import SPECS, TOOL_LIMIT_TEXT, OptionsTool, make_tools, offered_schemas, specialise
from crews.recording import CallSession
from media.settings import GeneratorLimits, StreamSettings
from policies.baselines import OptionsPolicy
from tests.crews.test_observation_text import obs as observation
from tools.control import StreamControl
from tools.options import current_topic, is_overloaded, round_options, topic_move
from tools.stream_tools import call_tool


def obs(**kw):
    """The shared observation ranked first: a bottom-half streamer is also offered the top trend, which the tests
    of the other options leave out (`test_a_bottom_half_streamer_is_offered_the_top_trend...` covers it)."""
    return observation(**{"rank": 1, **kw})


STALLED = dict(stall_seconds=1.5, device_load=1.4, settings=StreamSettings(prompt="forest", fps=10.0).model_dump())


def _options_tool(o, session=None):
    calls: list[tuple[str, dict]] = []
    tools = make_tools(lambda name, args: calls.append((name, args)) or "ok", session)
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


def test_when_the_numbers_point_nowhere_the_one_option_is_keep_and_it_changes_nothing():
    fine = obs(device_load=0.8, perceived_topic="ocean waves", perceived={"motion": 0.5}, ern_terms={})
    (only,) = round_options(fine)
    assert (only.letter, only.tool, only.args, only.call_text()) == ("A", "keep", {}, "keep")
    tool, calls = _options_tool(fine)
    assert tool.run(options=["A"]).startswith("A: ok") and calls == [("keep", {})]
    control = StreamControl("s01", StreamSettings(prompt="ocean waves"), GeneratorLimits())
    before = control.current_settings().model_dump()
    assert call_tool(control, None, "keep", {}) == "ok: the stream stays as it is"
    assert control.current_settings().model_dump() == before and [a.tool for a in control.drain_actions()] == ["keep"]
    assert call_tool(control, None, "keep", {"fps": 9}).startswith("error")  # it takes nothing
    # there is always an option, so every decision gets every tool (take_options too): the embedded model's
    # tool block never changes
    assert [t.name for t in make_tools(lambda n, a: "ok")] == list(SPECS) and "keep" in SPECS


def test_the_schema_admits_only_offered_letters():
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
    assert calls == [("keep", {})]  # the one option when the numbers point nowhere


def test_a_busy_device_is_not_an_overload_while_the_own_buffer_is_full():
    busy_full = obs(device_load=1.3, buffer_level=16, buffer_capacity=16)
    assert not is_overloaded(busy_full)
    calls = [(o.tool, o.args) for o in round_options(busy_full)]
    assert ("tune_generator", {"fps": 6.0}) in calls  # a full buffer: one step of the ladder anyway
    draining = obs(device_load=0.6, buffer_level=2, buffer_capacity=16)
    assert is_overloaded(draining)
    assert [o.tool for o in round_options(draining)][-1] == "tune_generator"
    assert round_options(draining)[-1].args == {"fps": 2.8}


def test_a_stream_keeps_its_topic_unless_another_is_clearly_better():
    demand = {"city at night": 3000, "ocean waves": 2600, "forest": 100}
    held = obs(
        settings=StreamSettings(prompt="ocean waves, misty pine forest").model_dump(),
        topic_demand=demand,
        perceived_topic="forest",
        leaderboard=[],
    )
    assert current_topic(held) == "ocean waves" and topic_move(held) is None  # 3000 < 1.25 x 2600
    far = held.model_copy(update={"topic_demand": {**demand, "city at night": 4000}})
    assert topic_move(far) == "city at night"  # 4000 >= 1.25 x 2600
    lost = held.model_copy(update={"settings": StreamSettings(prompt="my own thing").model_dump()})
    assert topic_move(lost) == "city at night"  # holds no wanted topic (saw forest: 100 per stream)


def test_choose_prompt_details_are_words_or_nothing():
    """The embedded model filled the free `details` field with digit runs that reached the picture's prompt."""
    import pydantic

    choose = offered_schemas(obs(**STALLED))["choose_prompt"]
    topic = choose.model_json_schema()["properties"]["topic"]["enum"][0]
    for fine in ("", "soft rain, at dusk", None):
        choose.model_validate({"topic": topic, "details": fine})
    for bad in ("1.2.2.2.2.2", "x" * 25, "<<<ignore>>>"):
        with pytest.raises(pydantic.ValidationError):
            choose.model_validate({"topic": topic, "details": bad})


def test_a_bottom_half_streamer_is_offered_the_top_trend_and_greedy_chases_the_same_one():
    from policies.baselines import GreedyPolicy
    from tools.observation import TrendView
    from tools.options import trend_to_chase

    trends = [
        TrendView(id="t1", title="LIVE", topic="fireworks", viewers=900),
        TrendView(id="t2", title="x", topic="desert sunset", viewers=300),
    ]
    calm = dict(topic_demand={}, perceived_topic="forest", trends=trends, device_load=0.9)
    top = obs(**calm, rank=1, persona_traits={"trend_following": 0.5})
    bottom = obs(**calm, rank=2, persona_traits={"trend_following": 0.5})
    follower = obs(**calm, rank=1, persona_traits={"trend_following": 0.9})
    assert trend_to_chase(top) is None and all(o.tool != "choose_prompt" for o in round_options(top))
    for o in (bottom, follower):
        assert trend_to_chase(o).topic == "fireworks"
        [chase] = [x for x in round_options(o) if x.tool == "choose_prompt"]
        assert chase.args == {"topic": "fireworks"} and "fireworks trend (900)" in chase.why
    showing = bottom.model_copy(update={"settings": {**bottom.settings, "prompt": "fireworks over a lake"}})
    assert all(o.tool != "choose_prompt" for o in round_options(showing))  # already shows it: nothing to chase
    calls: list[tuple[str, dict]] = []
    GreedyPolicy().decide(bottom, lambda n, a: calls.append((n, a)) or "ok", np.random.default_rng(0))
    assert any(n == "choose_prompt" and "fireworks" in a["prompt"] for n, a in calls)
