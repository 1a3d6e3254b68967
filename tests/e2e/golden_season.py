"""The golden season: a fixed-seed greedy season with a relegation and a finetune, reduced to what it computed
(standings per round and the kinds of events it logged).

Structural changes to the season loop must reproduce it exactly (`test_golden_season.py`). A change that is
meant to alter what a season computes regenerates the fixture on purpose, and says so in its commit:

    .venv/bin/python -m tests.e2e.golden_season --write
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from policies.baselines import GreedyPolicy
from tests.conftest import write_config

FIXTURE = Path(__file__).parent / "golden" / "greedy_relegation_finetune.json"


class GreedyThatFinetunes(GreedyPolicy):
    """Greedy, plus one 2-step finetune request per streamer on the first trend in round 1."""

    name = "greedy"

    def decide(self, obs, act, rng) -> None:
        if obs.round == 1 and obs.trends:
            act("request_finetune", {"source_id": obs.trends[0].id, "steps": 2})
        super().decide(obs, act, rng)


def run_golden(tmp: Path) -> dict[str, Any]:
    """Play the golden season in `tmp` and return its standings and event kinds, JSON-ready."""
    path = write_config(
        tmp, rounds=4, round_seconds=2.0, relegation={"every": 2, "fraction": 0.34}, engine={"finetune_share": 0.9}
    )
    config = load_season_config(path, name="golden")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    runner.policy = GreedyThatFinetunes()
    assert runner.run() == "finished"
    season = db.season("golden")
    standings: dict[str, list[list[Any]]] = {}
    for x in db.stats(season.id):
        standings.setdefault(str(x.round), []).append(
            [
                x.rank,
                x.streamer_id,
                x.ern_mean,
                x.ern_peak,
                x.share,
                x.rating_mu,
                x.rating_sigma,
                x.frames_generated,
                x.frames_output,
                x.stall_seconds,
            ]
        )
    for rows in standings.values():
        rows.sort()
    kinds: dict[str, dict[str, int]] = {}
    for e in db.events(season.id):
        kinds.setdefault(str(e.round), Counter())[e.kind] += 1
    names = {
        str(s.id): [s.name, s.slot, s.origin, s.parent_id, s.born_round, s.status] for s in db.streamers(season.id)
    }
    return {
        "standings": standings,
        "event_kinds": {r: dict(sorted(c.items())) for r, c in kinds.items()},
        "streamers": names,
    }


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_golden(Path(tmp))
    text = json.dumps(result, indent=1, sort_keys=True)
    if "--write" in argv:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(text + "\n")
        print(f"wrote {FIXTURE}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
