"""A mixed season: streamers play different policies in one audience; respawns keep the slot's policy."""

from __future__ import annotations

from collections import defaultdict

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from tests.conftest import write_config


def test_policy_mix_assigns_policies_by_slot_and_respawns_inherit_them(tmp_path):
    path = write_config(tmp_path, streamers=3, rounds=3, round_seconds=1.0, policy_mix=["hold", "random", "greedy"])
    config = load_season_config(path, name="mix")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    assert runner.run() == "finished"
    season = db.season("mix")
    spawned = {e.payload["streamer_id"]: e.payload for e in db.events(season.id, kinds=["streamer_spawned"])}
    first = [spawned[i]["policy"] for i in sorted(spawned) if spawned[i]["replaces"] is None]
    assert first == ["hold", "random", "greedy"]
    for p in spawned.values():  # a respawn plays the policy of the streamer it replaced
        if p["replaces"] is not None:
            assert p["policy"] == spawned[p["replaces"]]["policy"]
    by_policy = defaultdict(set)
    for e in db.events(season.id, kinds=["decision"]):
        by_policy[e.payload["policy"]].add(e.payload["streamer_id"])
        assert e.payload["policy"] == spawned[e.payload["streamer_id"]]["policy"]
    assert set(by_policy) == {"hold", "random", "greedy"}
    holders = by_policy["hold"]
    assert all(
        not e.payload["actions"]
        for e in db.events(season.id, kinds=["decision"])
        if e.payload["streamer_id"] in holders
    )


def test_relegation_every_zero_means_no_relegation(tmp_path):
    path = write_config(tmp_path, rounds=3, round_seconds=1.0, relegation={"every": 0})
    config = load_season_config(path, name="norel")
    db = Database(config.database)
    assert SeasonRunner.create(config, db).run() == "finished"
    season = db.season("norel")
    assert db.events(season.id, kinds=["relegated"]) == [] and len(db.streamers(season.id)) == 3
