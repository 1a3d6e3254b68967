"""The `llm:` section (keys from the environment only), the `--llm` flag, and the replay provider's checks."""

from __future__ import annotations

import json

import litellm
import pytest

from arena.cli import _with_llm, build_parser
from arena.config import load_season_config
from common.errors import ConfigError
from crews.llm.registration import unregister_provider
from crews.llm_config import DEFAULT_MODEL, LLMSection
from crews.llm_replay import register_replay
from policies.decide import decide_all
from tests.conftest import write_config
from tests.crews.scripted import install, tool_call, tool_turns  # first: imports crews (network off)
from tests.crews.test_llm_policy import job, policy


def test_llm_section_defaults_to_the_embedded_model(tmp_path):
    cfg = load_season_config(write_config(tmp_path, policy="llm"))
    assert cfg.policy == "llm" and cfg.llm.model == DEFAULT_MODEL == "embedded/smollm2-135m"
    assert cfg.llm.replay_season is None and LLMSection(model="replay:s1").replay_season == "s1"


@pytest.mark.parametrize("key", ["api_key", "API_KEY", "token"])
def test_api_key_in_yaml_is_a_clear_error(tmp_path, key):
    path = write_config(tmp_path, policy="llm", llm={"model": "openai/gpt-4o-mini", key: "sk-123"})
    with pytest.raises(ConfigError) as err:
        load_season_config(path)
    msg = str(err.value)
    assert "season.yaml" in msg and key in msg and "environment variable" in msg and "OPENAI_API_KEY" in msg
    assert "sk-123" not in msg


def test_llm_flag_overrides_the_model_and_implies_policy_llm(tmp_path):
    args = build_parser().parse_args(["run", "--llm", "ollama/llama3.2", "--config", "x.yaml"])
    assert args.llm == "ollama/llama3.2"
    cfg = _with_llm(load_season_config(write_config(tmp_path), policy="llm"), args.llm)
    assert cfg.llm.model == "ollama/llama3.2" and cfg.llm.temperature == LLMSection().temperature


def _record_one(tmp_path):
    install(tool_turns([tool_call("tune_generator", {"fps": 7})]))
    pol = policy()
    [out] = decide_all([job(pol)], 1, 60)
    assert out.ok
    return pol.drain_records(), out


def test_replay_answers_from_records_without_a_model(tmp_path):
    records, out = _record_one(tmp_path)
    unregister_provider("scripted")
    pol = policy()
    pol.model = register_replay("unit", records)
    j = job(pol)
    [again] = decide_all([j], 1, 60)
    assert again.ok and [(a.tool, a.args, a.result) for a in again.actions] == [
        (a.tool, a.args, a.result) for a in out.actions
    ]
    assert j.control.current_settings().fps == 7
    assert json.dumps(pol.drain_records()[0]["tool_calls"]) == json.dumps(records[0]["tool_calls"])


def test_replay_refuses_a_request_that_differs_from_the_recording(tmp_path):
    records, _ = _record_one(tmp_path)
    pol = policy()
    pol.model = register_replay("unit2", records)
    j = job(pol, round_number=1)
    j.observation.ern_history.append(123.0)  # the prompt now differs from the recorded one
    before = j.control.current_settings()
    [out] = decide_all([j], 1, 60)
    assert not out.ok and "differs from the recorded one" in out.error and j.control.current_settings() == before
    with pytest.raises(Exception, match="never recorded"):  # litellm wraps the ReplayMismatch
        litellm.completion(
            model=pol.model,
            messages=[{"role": "user", "content": "hi"}],
            metadata={"totoroid": {"actor": "s99", "round": 1, "purpose": "decision", "index": 0}},
        )
