"""Memory and reflection through a real season: what a streamer did and what its viewers did next comes back
in its next observation; at a window it reflects, the text reaches its next prompt, and an exploit child
inherits its parent's lessons (recorded in the lineage)."""

from __future__ import annotations

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from arena.memory import MEMORY_ROUNDS, summarise_actions
from policies.baselines import GreedyPolicy
from tests.conftest import write_config
from tests.tui.test_fold import _fold as fold
from tools.control import ActionRecord
from tools.observation import Observation, ReflectionRequest


class ReflectingGreedy(GreedyPolicy):
    """Greedy decisions; a reflection that quotes its memory (with hostile characters the arena must clean)."""

    def __init__(self) -> None:
        self.seen: list[Observation] = []
        self.asked: list[ReflectionRequest] = []

    def decide(self, obs, act, rng):
        self.seen.append(obs)
        super().decide(obs, act, rng)

    def reflect_all(self, requests):
        self.asked += requests
        return {r.stream_id: f"last: {r.memory[-1].did}\u202e\x07 keep going" for r in requests}


def test_memory_and_reflection_flow_through_the_season(tmp_path):
    config = load_season_config(write_config(tmp_path), name="mem")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    policy = ReflectingGreedy()
    runner.policy = policy
    assert runner.run() == "finished"
    season = db.season("mem")

    # memory: round 2's observation remembers round 1 with the stored ERN before/after
    stats = {(s.round, s.streamer_id): s for s in db.stats(season.id)}
    slot_id = {s.slot: s.id for s in db.streamers(season.id)}
    r2 = [o for o in policy.seen if o.round == 2]
    assert r2 and all(len(o.memory) == 1 and o.memory[0].round == 1 for o in r2)
    for o in r2:
        m = o.memory[0]
        assert m.viewers_before == 0.0
        assert abs(m.viewers_after - stats[(1, slot_id[o.stream_id])].ern_mean) < 0.06
        assert m.did != "nothing"  # greedy opens with a tune in round 1
    assert all(len(o.memory) <= MEMORY_ROUNDS for o in policy.seen)

    # reflection: asked once per survivor at the round-2 window (not at round 4, the season's end)
    assert {r.round for r in policy.asked} == {2}
    events = db.events(season.id, kinds=["reflection"])
    assert len(events) == len(policy.asked) == 2
    text = events[0].payload["text"]
    assert text.startswith("last: ") and "\u202e" not in text and "\x07" not in text
    later = {o.stream_id: o.reflection for o in policy.seen if o.round == 3}
    for e in events:
        assert later[e.payload["slot"]] == e.payload["text"]  # it reaches the next prompt

    # the exploit child inherits its parent's reflection, and the lineage says so
    spawn = next(e.payload for e in db.events(season.id, kinds=["streamer_spawned"]) if e.round == 2)
    parent_text = next(e.payload["text"] for e in events if e.payload["streamer_id"] == spawn["parent_id"])
    assert spawn["origin"] == "exploit" and spawn["inherited_reflection"] == parent_text
    assert later[spawn["slot"]] == parent_text

    # the TUI shows each streamer's latest reflection (detail screen) and every reflection in the feed
    model = fold(config.database, "mem")
    shown = {st.id: st.reflection for st in model.streamers()}
    for e in events:
        assert shown[e.payload["streamer_id"]] == e.payload["text"]
    assert shown[spawn["streamer_id"]] == parent_text
    feed = [f.summary for f in model.feed() if f.kind == "reflection"]
    assert sorted(feed) == sorted(f"reflects: {e.payload['text']}" for e in events)


def test_summarise_actions_keeps_applied_calls_only():
    acts = [
        ActionRecord("tune_generator", {"fps": 8.0, "steps": None}, "ok", True),
        ActionRecord("choose_prompt", {"topic": "ocean waves"}, "ok", True),
        ActionRecord("tune_generator", {"fps": "fast"}, "error: fps", False),
    ]
    assert summarise_actions(acts) == "tune fps=8.0; show 'ocean waves'"
    assert summarise_actions([]) == "nothing"
