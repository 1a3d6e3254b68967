"""What watching costs next to generating: the default season's rounds, timing the engine's advance (generation
and bookkeeping) against `arena.round.stream_views` (the eye on the frame sample and the perception measures)
and the audience step. Prints JSON. Usage: .venv/bin/python bench/watch_cost.py [--rounds N]"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.config import load_season_config  # noqa: E402
from arena.db import Database  # noqa: E402
from arena.loop import SeasonRunner  # noqa: E402
from arena.round import stream_views  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp())
    config = load_season_config(None, name="watch", rounds=a.rounds, database=str(tmp / "a.db"), run_dir=str(tmp / "r"))
    runner = SeasonRunner.create(config, Database(config.database))
    c, world = runner.config, runner.world
    ticks = max(1, round(c.round_seconds / c.audience.tick_seconds))
    gen_s = eye_s = aud_s = 0.0
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        reports = world.engine.advance(c.round_seconds)
        t1 = time.perf_counter()
        views = stream_views(list(reports), reports, world.eye, c.round_seconds, c.audience.tick_seconds, ticks)
        t2 = time.perf_counter()
        world.audience.step_round(views, ticks, world.trend_embedding())
        t3 = time.perf_counter()
        gen_s, eye_s, aud_s = gen_s + t1 - t0, eye_s + t2 - t1, aud_s + t3 - t2
    print(
        json.dumps(
            {
                "bench": "watch_cost",
                "rounds": a.rounds,
                "streams": c.streamers,
                "round_seconds": c.round_seconds,
                "engine_s_per_round": round(gen_s / a.rounds, 4),
                "watch_s_per_round": round(eye_s / a.rounds, 4),
                "audience_s_per_round": round(aud_s / a.rounds, 4),
                "watch_share_of_generation": round(eye_s / gen_s, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
