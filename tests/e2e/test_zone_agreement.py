"""One rule, three readers: over a whole season, what an agent is told about the relegation zone, what the TUI's
table shows and who is actually relegated agree (they all come from `arena.rules.zone_after`)."""

from __future__ import annotations

from collections import defaultdict

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from policies.baselines import RandomPolicy
from tests.conftest import write_config
from tests.tui.test_fold import _fold as fold


class ZoneWitness(RandomPolicy):
    """Random decisions (so standings move), and a note of what each streamer was told about the zone."""

    def __init__(self) -> None:
        self.told: dict[int, set[str]] = defaultdict(set)

    def decide(self, obs, act, rng) -> None:
        if obs.in_relegation_zone:
            self.told[obs.round].add(obs.stream_id)
        super().decide(obs, act, rng)


def test_observation_table_and_relegation_agree_over_a_season(tmp_path):
    path = write_config(tmp_path, streamers=4, rounds=5, round_seconds=1.0, relegation={"every": 2, "fraction": 0.5})
    config = load_season_config(path, name="zones")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    witness = ZoneWitness()
    runner.policy = witness
    assert runner.run() == "finished"
    season = db.season("zones")
    relegated: dict[int, set[str]] = defaultdict(set)
    for e in db.events(season.id, kinds=["relegated"]):
        relegated[e.round].add(e.payload["slot"])
    model = fold(config.database, "zones")
    slot = {s.id: s.slot for s in model.streamers()}
    for r in range(1, config.rounds + 1):
        table = model.table(r)
        shown = {slot[row.streamer_id] for row in table.rows if row.status in ("zone", "relegated")}
        assert relegated.get(r, set()) <= shown  # a window relegates exactly the table's zone ...
        if r % config.relegation.every == 0 and r < config.rounds:
            assert relegated[r] == shown, f"window {r}"
        # ... and before the next round every agent is told the table's zone, less those already gone
        assert witness.told.get(r + 1, set()) == shown - relegated.get(r, set()), f"round {r + 1}"
    assert sum(len(v) for v in witness.told.values()) > 0 and len(relegated) == 2
