"""The real embedded model, given a round's observation, and what it changed on the stream (not only that its
call was schema-valid): a stall makes it lower its load, a wanted topic it does not show moves its prompt, and
spare device time raises what viewers see. Without the arena's options (tools.options) SmolLM2-135M answered
choose_prompt whatever the numbers said; with them it takes the options the numbers point to."""

from __future__ import annotations

import numpy as np
import pytest

import crews  # noqa: F401  (network features off before litellm is imported)
from crews.llm_policy import LLMPolicy
from media.settings import GeneratorLimits, StreamSettings
from policies.decide import DecisionJob, decide_all
from tests.crews.test_observation_text import obs
from tools.control import StreamControl


def decide(o):
    pol = LLMPolicy()
    ctl = StreamControl(o.stream_id, StreamSettings.model_validate(o.settings), GeneratorLimits())
    before = ctl.current_settings()
    [out] = decide_all([DecisionJob(o.stream_id, pol, o, ctl, np.random.default_rng(0))], 1, 240)
    assert out.ok, out.error
    return before, ctl.current_settings(), out.actions


@pytest.mark.timeout(600)
def test_a_wanted_topic_it_does_not_show_moves_its_prompt_toward_it():
    o = obs(
        perceived_topic="forest",
        topic_demand={"city at night": 5000, "forest": 100},
        device_load=0.9,
        perceived={"detail": 0.5, "smoothness": 0.7, "motion": 0.6, "stability": 0.8, "speckle": 0.1},
        ern_terms={"topic": -0.5},
    )
    before, after, actions = decide(o)
    assert "city at night" not in before.prompt
    assert "city at night" in after.prompt, actions


@pytest.mark.timeout(600)
def test_heavy_stalls_make_it_lower_its_load():
    o = obs(
        stall_seconds=2.0, device_load=1.5, settings=StreamSettings(prompt="forest", fps=20.0, steps=4).model_dump()
    )
    before, after, actions = decide(o)
    load = lambda s: s.fps / s.interpolation * s.steps * (s.resolution / 64) ** 2  # noqa: E731
    assert load(after) < load(before), actions


@pytest.mark.timeout(600)
def test_spare_device_time_goes_to_more_steps_or_frames():
    o = obs(device_load=0.2, perceived_topic="city at night", ern_terms={"smoothness": -0.5, "detail": -0.3})
    before, after, actions = decide(o)
    assert after.steps * after.fps > before.steps * before.fps, actions
