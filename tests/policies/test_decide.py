"""Concurrent decisions: a failed or slow decision leaves the stream as it was and never stops the others."""

import time

import numpy as np

from crews.registry import make_policy
from media.settings import GeneratorLimits, StreamSettings
from policies.base import Policy
from policies.baselines import GreedyPolicy, HoldPolicy, RandomPolicy
from policies.decide import DecisionJob, decide_all
from tools.control import StreamControl
from tools.observation import LeaderboardRow, Observation, TrendView

LIMITS = GeneratorLimits()


def make_obs(**kw):
    base = dict(
        stream_id="s01",
        name="A",
        round=2,
        rounds_total=5,
        rounds_to_relegation=1,
        persona_summary="x",
        settings=StreamSettings(prompt="forest").model_dump(),
        limits=LIMITS.model_dump(),
        trends=[TrendView(id="synthetic:0", title="LIVE: fireworks", topic="fireworks", viewers=100)],
    )
    base.update(kw)
    return Observation(**base)


class Crashy(Policy):
    def decide(self, obs, act, rng):
        act("tune_generator", {"fps": 20})
        raise RuntimeError("model said nonsense")


class Slow(Policy):
    def decide(self, obs, act, rng):
        act("tune_generator", {"fps": 20})
        time.sleep(0.5)
        act("choose_prompt", {"prompt": "late"})


def job(policy, sid="s01"):
    ctl = StreamControl(sid, StreamSettings(prompt="forest", fps=4.0), LIMITS)
    return DecisionJob(
        sid,
        policy,
        make_obs(stream_id=sid, settings=ctl.current_settings().model_dump()),
        ctl,
        np.random.default_rng(0),
    )


def test_failures_restore_settings_and_others_proceed():
    jobs = [job(Crashy(), "a"), job(Slow(), "b"), job(RandomPolicy(), "c")]
    out = decide_all(jobs, max_parallel=3, timeout=0.2)
    assert [o.stream_id for o in out] == ["a", "b", "c"]
    assert not out[0].ok and "model said nonsense" in out[0].error
    assert not out[1].ok and "timed out" in out[1].error
    assert jobs[0].control.current_settings().fps == 4.0 and jobs[1].control.current_settings().fps == 4.0
    time.sleep(0.5)  # the slow thread's late call must not land
    assert jobs[1].control.current_settings().prompt == "forest"
    assert out[2].ok


def test_hold_never_acts():
    j = job(HoldPolicy())
    (o,) = decide_all([j])
    assert o.ok and o.actions == []


def test_greedy_cuts_load_after_a_stall_and_chases_trends_when_behind():
    ctl = StreamControl("s01", StreamSettings(prompt="forest", fps=8.0), LIMITS)
    obs = make_obs(
        settings=ctl.current_settings().model_dump(),
        stall_seconds=1.5,
        buffer_level=0,
        buffer_capacity=16,
        rank=4,
        leaderboard=[LeaderboardRow(rank=i, name=str(i), ern=1, share=0.25, rating=0) for i in range(1, 5)],
        persona_style="green moss",
    )
    (o,) = decide_all([DecisionJob("s01", GreedyPolicy(), obs, ctl, np.random.default_rng(0))])
    s = ctl.current_settings()
    assert s.fps < 8.0
    assert s.prompt.startswith("fireworks") and "green moss" in s.prompt
    assert [a.tool for a in o.actions] == ["tune_generator", "choose_prompt"]


def test_greedy_spends_headroom():
    ctl = StreamControl("s01", StreamSettings(prompt="fireworks", fps=4.0, steps=1), LIMITS)
    obs = make_obs(
        settings=ctl.current_settings().model_dump(),
        buffer_level=16,
        buffer_capacity=16,
        rank=1,
        persona_traits={"quality_focus": 0.9, "trend_following": 0.1},
    )
    decide_all([DecisionJob("s01", GreedyPolicy(), obs, ctl, np.random.default_rng(0))])
    assert ctl.current_settings().steps == 2


def test_make_policy_names():
    assert make_policy("greedy").name == "greedy"
    try:
        make_policy("oracle")
    except ValueError as e:
        assert "unknown policy" in str(e)
    else:
        raise AssertionError("unknown policy accepted")


class QueuesThenCrashes(Policy):
    """Queues a finetune and a spoken line, then fails: none of it may reach the stream."""

    def decide(self, obs, act, rng):
        act("request_finetune", {"source_id": "synthetic:0", "steps": 2})
        act("speak", {"text": "hello chat"})
        act("tune_generator", {"steps": 2})
        raise RuntimeError("agent crashed after queueing")


def test_a_failed_decision_rolls_back_queued_finetunes_and_speech():
    j = job(QueuesThenCrashes())
    j.control.speech.append("said last round")  # what was there before the decision stays
    out = decide_all([j], max_parallel=1, timeout=5.0)[0]
    assert not out.ok and "crashed" in out.error
    assert [a.ok for a in out.actions] == [True, True, True]  # the log still shows what it tried
    assert j.control.finetune_requests == [] and j.control.speech == ["said last round"]
    assert j.control.current_settings().steps == 1


def test_every_config_policy_name_makes_a_policy():
    from crews.registry import POLICY_NAMES
    from policies.baselines import BASELINES

    assert set(POLICY_NAMES) == {*BASELINES, "llm"}
    for name in POLICY_NAMES:
        assert make_policy(name).name == name
