"""The real embedded model reflecting at a relegation window: its plan follows what the window's numbers say
(the menus hold what they support, crews.reflection), not the same plan every time."""

from __future__ import annotations

import pytest

import crews  # noqa: F401  (network features off before litellm is imported)
from crews.llm_policy import LLMPolicy
from crews.reflection import CUT_LOAD, MOVE_TOPIC
from tools.observation import Recollection, ReflectionRequest

MEMORY = [
    Recollection(round=2, did="tune fps=16", viewers_before=300, viewers_after=240, share_after=0.2),
    Recollection(round=3, did="show 'forest'", viewers_before=240, viewers_after=250, share_after=0.2),
]


def request(slot: str, **numbers) -> ReflectionRequest:
    return ReflectionRequest(
        stream_id=slot,
        name=f"Ada {slot}",
        round=3,
        character="a painter of quiet forests",
        survival_motive="Without viewers the studio closes.",
        window_ern=260.0,
        rank=4,
        streamers=6,
        memory=MEMORY,
        **numbers,
    )


@pytest.mark.timeout(600)
def test_a_stalling_stream_plans_to_cut_its_load_and_an_off_topic_one_to_move():
    stalled = request("s01", stall_seconds=2.5, ern_terms={"stall": -1.2, "topic": -0.2})
    lost = [m.model_copy(update={"viewers_after": m.viewers_before - 20}) for m in MEMORY]  # no move raised viewers
    off_topic = request("s02", ern_terms={"topic": -0.9, "smoothness": 0.8}).model_copy(update={"memory": lost})
    out = LLMPolicy().reflect_all([stalled, off_topic])
    assert out["s01"].endswith(f"Plan: {CUT_LOAD}"), out
    assert out["s02"].endswith(f"Plan: {MOVE_TOPIC}"), out
    assert out["s01"].startswith("tune fps=16 lost viewers, 300 to 240")  # the largest measured effect (-20%)
