"""The JSON-action fallback's pure parts: finding one action in a model's text, validating it against the
offered schema, the retry, stepping a response format down, and the round's one-line failure summary."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from crews.llm import response_format as formats
from crews.llm.json_action import (
    ActCounter,
    ActionError,
    NoAction,
    action_json_schema,
    action_schemas,
    fallback_action,
    last_exchange,
    parse_action,
)
from policies.decide import DecisionOutcome, failure_reason, summarise_failures


class Prompt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(max_length=80)


class Tune(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int | None = Field(None, ge=1, le=8)
    fps: float | None = Field(None, ge=1, le=12)


class Nothing(BaseModel):
    model_config = ConfigDict(extra="forbid")


SCHEMAS = {"choose_prompt": Prompt, "tune_generator": Tune}


@pytest.mark.parametrize(
    "text",
    [
        '{"tool": "tune_generator", "args": {"fps": 6}}',
        'Sure! ```json\n{"name": "tune_generator", "arguments": "{\\"fps\\": 6}"}\n``` done',
        '{"action": "tune_generator", "action_input": {"fps": 6}}',
        '{"function": {"name": "tune_generator", "arguments": {"fps": 6}}}',
        'Thought: stalls.\nAction: tune_generator\nAction Input: {"fps": 6}',
        '{"tool": "tune_generator", "fps": 6}',  # arguments beside the name
        'I will lower fps: {"fps": 6}',  # bare arguments that fit one tool only
    ],
)
def test_an_action_is_found_in_the_usual_spellings(text):
    action = parse_action(text, SCHEMAS)
    assert (action.tool, action.args) == ("tune_generator", {"fps": 6})


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("I think the ocean would be lovely this round.", "no JSON object found"),
        ('{"tool": "format_disk", "args": {}}', "unknown tool 'format_disk'"),
        ('{"tool": "tune_generator", "args": {"fps": "fast"}}', "tune_generator: fps: Input should be a valid"),
        ('{"tool": "tune_generator", "args": {"volume": 11}}', "tune_generator: volume: Extra inputs"),
        ('{"tool": "choose_prompt", "args": "ocean"}', "args must be a JSON object"),
        ('{"mood": "happy"}', "names no tool"),
    ],
)
def test_no_valid_action_says_what_was_wrong(text, error):
    with pytest.raises(ActionError, match=error):
        parse_action(text, SCHEMAS)


def test_the_first_valid_action_wins_over_earlier_invalid_objects():
    text = '{"tool": "x"} then {"tool": "choose_prompt", "args": {"prompt": "a harbour at dusk"}}'
    assert parse_action(text, SCHEMAS).args == {"prompt": "a harbour at dusk"}


def test_the_action_schema_is_one_object_per_tool():
    schema = action_json_schema(SCHEMAS)
    assert [o["properties"]["tool"]["enum"] for o in schema["anyOf"]] == [["choose_prompt"], ["tune_generator"]]
    assert schema["anyOf"][1]["properties"]["args"]["properties"]["fps"]["anyOf"][0]["maximum"] == 12


class FakeTool:
    def __init__(self, name, schema, counter):
        self.name, self.args_schema, self.counter = name, schema, counter

    def run(self, **kwargs):
        return self.counter(self.name, kwargs)


def tools_with(act_lines):
    applied = []

    def act(name, args):
        applied.append((name, args))
        return act_lines.get(name, "t1 | storm | 9 viewers" if name == "read_trends" else "ok: applied")

    counter = ActCounter(act)
    tools = [
        FakeTool("choose_prompt", Prompt, counter),
        FakeTool("tune_generator", Tune, counter),
        FakeTool("read_trends", Nothing, counter),
    ]
    return tools, counter, applied


def test_fallback_applies_the_action_in_the_answer_without_asking_again():
    tools, counter, applied = tools_with({})
    asked = []
    line = fallback_action(tools, '{"tool": "tune_generator", "args": {"steps": 2}}', [], asked.append, counter)
    assert line == "ok: applied" and applied == [("tune_generator", {"steps": 2})] and asked == []
    assert counter.applied == 1


def test_fallback_retries_once_with_the_error_and_a_constraining_format():
    tools, counter, applied = tools_with({})
    asks = []

    def ask(messages, response_format):
        asks.append((messages, response_format))
        return '{"tool": "choose_prompt", "args": {"prompt": "rain on a tin roof"}}'

    history = [{"role": "user", "content": "Round 2 ..."}]
    fallback_action(tools, "The rain sounds nice.", history, ask, counter)
    [(messages, fmt)] = asks
    assert messages[0] == history[0] and messages[1] == {"role": "assistant", "content": "The rain sounds nice."}
    assert "no JSON object found" in messages[2]["content"] and "read_trends" not in messages[2]["content"]
    assert fmt["type"] == "json_schema" and "anyOf" in fmt["json_schema"]["schema"]
    assert applied == [("choose_prompt", {"prompt": "rain on a tin roof"})]


def test_fallback_fails_the_decision_when_the_retry_is_no_action_either():
    tools, counter, applied = tools_with({})
    with pytest.raises(NoAction, match="no action: no JSON object found.*answer: 'still prose'"):
        fallback_action(tools, "prose", [], lambda m, f: "still prose", counter)
    assert applied == []


def test_an_action_the_tool_refuses_is_no_action():
    tools, counter, _ = tools_with({"tune_generator": "error: this round's tool-call limit is reached"})
    with pytest.raises(NoAction, match="tune_generator was not applied: error: this round"):
        fallback_action(tools, '{"tool": "tune_generator", "args": {"fps": 3}}', [], lambda m, f: "", counter)


def test_read_only_tools_are_not_actions():
    tools, counter, _ = tools_with({})
    assert set(action_schemas(tools)) == {"choose_prompt", "tune_generator"}
    counter("read_trends", {})  # answers data: not a change
    assert counter.applied == 0 and counter.calls == 1


def test_last_exchange_is_the_last_answered_request():
    records = [
        {"messages": [{"role": "user", "content": "a"}], "response": "first", "error": None},
        {"messages": [{"role": "user", "content": "b"}], "response": None, "tool_calls": [{}], "error": None},
        {"messages": [{"role": "user", "content": "c"}], "response": None, "error": "boom"},
    ]
    assert last_exchange(records, "final") == ([{"role": "user", "content": "b"}], "final")
    assert last_exchange([], "final") == ([], "final")


# ---- response formats ---------------------------------------------------------------------------------------
SCHEMA_FMT = {"type": "json_schema", "json_schema": {"name": "persona", "schema": {"type": "object"}, "strict": True}}


def test_a_response_format_steps_down_to_json_object_with_its_schema_then_plain_then_none():
    second = formats.weaker(SCHEMA_FMT)
    assert second == {"type": "json_object", "schema": {"type": "object"}}
    assert formats.weaker(second) == {"type": "json_object"}
    assert formats.weaker({"type": "json_object"}) is None
    assert formats.weaker(None) == "exhausted"


def test_an_endpoint_remembers_the_form_it_took():
    formats.forget_all()
    try:
        assert formats.for_endpoint("openai/m", "http://h/v1", SCHEMA_FMT) == SCHEMA_FMT
        formats.remember("openai/m", "http://h/v1", {"type": "json_object", "schema": {}})
        assert formats.for_endpoint("openai/m", "http://h/v1", SCHEMA_FMT)["type"] == "json_object"
        assert formats.for_endpoint("openai/m", "http://other/v1", SCHEMA_FMT) == SCHEMA_FMT
    finally:
        formats.forget_all()


def test_only_a_refusal_of_the_format_steps_it_down():
    class BadRequest(Exception):
        status_code = 400

    assert formats.is_format_refusal(BadRequest("response_format: 'json_schema' is not a valid type"))
    assert not formats.is_format_refusal(BadRequest("context length exceeded"))
    assert not formats.is_format_refusal(RuntimeError("response_format"))


# ---- the round's one line -----------------------------------------------------------------------------------
def test_failures_are_one_line_with_counts_and_short_reasons():
    connection = (
        "InternalServerError: litellm.InternalServerError: InternalServerError: OpenAIException - Connection error."
    )
    outcomes = [
        DecisionOutcome("s01", False, 1.0, connection),
        DecisionOutcome("s02", False, 1.0, connection),
        DecisionOutcome("s03", False, 1.0, "NoAction: no action: no JSON object found"),
        DecisionOutcome("s04", True, 1.0),
    ]
    line = summarise_failures(outcomes)
    assert line == (
        "3 of 4 decisions failed, those streams unchanged: 2 x InternalServerError: Connection error; "
        "no action: no JSON object found"
    )
    assert "\n" not in line
    assert summarise_failures(outcomes[3:]) is None
    assert failure_reason("timed out after 30s") == "timed out after 30s"


def test_a_model_whose_tool_calls_were_all_refused_is_not_asked_again():
    tools, counter, _ = tools_with({"tune_generator": "error: fps: Input should be a valid number"})
    counter("tune_generator", {"fps": "fast"})
    asked = []
    with pytest.raises(NoAction, match="no tool call was applied .tune_generator: error: fps"):
        fallback_action(tools, "done", [], lambda m, f: asked.append(m) or "", counter)
    assert asked == []


def test_out_of_bounds_numbers_pass_to_the_tool_which_clamps_them():
    assert parse_action('{"tool": "tune_generator", "args": {"fps": 500}}', SCHEMAS).args == {"fps": 500}
