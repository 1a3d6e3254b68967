"""Every tool has an upside and a cost, measured where it counts: a stream's share of the same audience.

Each season has two streamers on the packaged base model (64 px to start); streamer 1 uses one tool in round 1 and
streamer 2 holds. The same season with streamer 1 holding too is the baseline (same seed, same personas,
same audience draws until the decisions differ). Spending device headroom on steps or fps, or finetuning on
the trending scene, raises streamer 1's share; overloading the device (stalls) lowers it. And a season of
frozen, off-topic, stalling streams draws at most half the eyes of a season of good ones (elastic attention).
"""

from __future__ import annotations

import pytest

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from policies.base import Policy
from tests.conftest import write_config

pytestmark = pytest.mark.timeout(900)


class OneMove(Policy):
    """Round 1: streamer `slot` makes `calls`; everyone else (and every later round) holds."""

    name = "one-move"

    def __init__(self, calls: dict[str, list[tuple[str, dict]]]) -> None:
        self.calls = calls

    def decide(self, obs, act, rng) -> None:
        if obs.round == 1:
            for tool, args in self.calls.get(obs.stream_id, []):
                act(tool, dict(args) if tool != "request_finetune" else {**args, "source_id": obs.trends[0].id})


def season(tmp_path, name: str, calls: dict, streamers: int = 2) -> dict[str, float]:
    path = write_config(
        tmp_path / name,
        streamers=streamers,
        rounds=4,
        round_seconds=4.0,
        relegation={"every": 0},
        generator={
            "model": {"kind": "embedded"},  # the packaged base model: steps and resolution change the picture
            "defaults": {"steps": 1, "resolution": 64, "fps": 4.0},
            "limits": {"resolutions": [64, 96, 128], "steps_max": 8, "fps_max": 24.0},
        },
        engine={"finetune_share": 0.5},
        audience={"size": 20000},
    )
    config = load_season_config(path, name=name)
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    runner.policy = OneMove(calls)
    assert runner.run() == "finished"
    s = db.season(name)
    slots = {x.id: x.slot for x in db.streamers(s.id)}
    ern: dict[str, float] = {}
    for st in db.stats(s.id):
        if st.round >= 2:  # from the round after the move
            ern[slots[st.streamer_id]] = ern.get(slots[st.streamer_id], 0.0) + st.ern_mean
    return ern


def share(ern: dict[str, float], slot: str = "s01") -> float:
    return ern[slot] / sum(ern.values())


MOVES = {
    "steps": ([("tune_generator", {"steps": 2})], +1),
    "fps": ([("tune_generator", {"fps": 10.0})], +1),
    "finetune": ([("request_finetune", {"steps": 8})], +1),
    # 8 steps of 128 px at 24 fps: twice what the device does in real time (the cost model: load ~2.2), so the
    # buffer drains and the stream stalls (4 steps no longer overloaded it once the generator ran in ONNX Runtime)
    "overload": ([("tune_generator", {"steps": 8, "resolution": 128, "fps": 24.0})], -1),
}


# a frozen (strength 0), off-topic, overloaded stream vs a stream spending modest headroom
POOR = [
    ("choose_prompt", {"prompt": "a plain grey wall", "transition_seconds": 0}),
    ("tune_generator", {"strength": 0.0, "steps": 8, "resolution": 128, "fps": 24.0}),
]
GOOD = [("tune_generator", {"steps": 2, "fps": 8.0})]


def test_each_tool_moves_the_share_the_way_its_cost_and_upside_say(tmp_path):
    base = share(season(tmp_path, "hold", {}))
    got = {}
    for move, (calls, _sign) in MOVES.items():
        got[move] = share(season(tmp_path, move, {"s01": calls}))
    for move, (_, sign) in MOVES.items():
        assert sign * (got[move] - base) > 0.01, (move, base, got)


def test_a_season_of_poor_streams_draws_at_most_half_the_eyes(tmp_path):
    poor, good = POOR, GOOD
    total = lambda ern: sum(ern.values())  # noqa: E731
    good_ern = total(season(tmp_path, "good", {"s01": good, "s02": good, "s03": good}, streamers=3))
    poor_ern = total(season(tmp_path, "poor", {"s01": poor, "s02": poor, "s03": poor}, streamers=3))
    assert poor_ern <= 0.5 * good_ern, (poor_ern, good_ern)
