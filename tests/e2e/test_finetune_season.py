"""Runtime finetuning through a whole season: agents request it through the tool, the arena captures frames
from the trend source, the engine trains while streaming, checkpoints land under runs/<season>/checkpoints/,
the metrics measure distance to the trending scenes, and a PBT exploit child inherits its parent's weights."""

from __future__ import annotations

import json

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from policies.base import Policy
from tests.conftest import write_config


class FinetuneOnce(Policy):
    """Round 1: every streamer asks to finetune on the first trend it sees (through the real tool)."""

    name = "finetune-once"

    def decide(self, obs, act, rng) -> None:
        if obs.round == 1:
            act("request_finetune", {"source_id": obs.trends[0].id, "steps": 2})
        if obs.round == 2:
            act("request_finetune", {"source_id": "not-a-source", "steps": 2})  # refused by the tool


def test_season_finetunes_inherits_and_measures_trend_distance(tmp_path):
    path = write_config(
        tmp_path, rounds=4, round_seconds=3.0, relegation={"every": 3, "fraction": 0.34}, engine={"finetune_share": 0.9}
    )
    config = load_season_config(path, name="ft")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    runner.policy = FinetuneOnce()
    assert runner.run() == "finished"
    season = db.season("ft")
    kinds = [e.kind for e in db.events(season.id)]
    assert kinds.count("finetune_started") == 3 and kinds.count("finetune_done") == 3
    done = [json.loads(e.payload_json) for e in db.events(season.id) if e.kind == "finetune_done"]
    for d in done:
        assert (tmp_path / "runs" / "ft" / "checkpoints" / d["checkpoint"]).is_file() and d["steps"] == 2
    inherited = [json.loads(e.payload_json) for e in db.events(season.id) if e.kind == "finetune_inherited"]
    assert len(inherited) == 1 and inherited[0]["checkpoint"].endswith("/ft-1.safetensors")
    assert (tmp_path / "runs" / "ft" / "checkpoints" / inherited[0]["checkpoint"]).is_file()
    refused = [a for a in db.actions(season.id) if a.tool == "request_finetune" and not a.ok]
    assert len(refused) == 3 and "finetune_failed" not in kinds  # the tool stopped the bad id; nothing queued
    # The engine's per-round metrics include the distance to each trending built-in scene.
    metrics = json.loads(db.stats(season.id)[-1].metrics_json)
    assert "nearest_trend_distance" in metrics and any(k.startswith("dist_") for k in metrics)
