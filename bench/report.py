"""Report benchmark: prints one JSON object with the seconds each part of `python -m arena report` and
`export` takes on one season: reading it, each section of the page, the timelapses (inside the filmstrip
section), CSV and parquet exports, and the page's size.

The season is one you name (`--db`, `--season`), or, by default, a real season played here first with the
test suite's tiny config (`--streamers`, `--rounds`, 32 px, one-second rounds, relegation every 3 rounds).

Usage: .venv/bin/python bench/report.py [--db PATH --season NAME] [--streamers N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.db import Database  # noqa: E402
from arena.report.data import load_season  # noqa: E402
from arena.report.export import export_season  # noqa: E402
from arena.report.season_report import build_season_report  # noqa: E402


def play(tmp: Path, streamers: int, rounds: int) -> tuple[str, str, float]:
    from arena.config import load_season_config
    from arena.loop import SeasonRunner
    from tests.conftest import write_config

    cfg = write_config(tmp, streamers=streamers, rounds=rounds, round_seconds=1.0, relegation={"every": 3})
    config = load_season_config(cfg, name="bench")
    t = time.perf_counter()
    runner = SeasonRunner.create(config, Database(config.database))
    runner.run()
    return config.database, "bench", time.perf_counter() - t


def bench(db_path: str, season: str, out: Path) -> dict:
    db = Database(db_path, create=False)
    t = time.perf_counter()
    data = load_season(db, season, db_path=db_path)
    load_s = time.perf_counter() - t
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    built = build_season_report(data, out / "report", on_step=lambda s: marks.append((s, time.perf_counter())))
    end = time.perf_counter()
    stamps = [m[1] for m in marks] + [end]
    sections = {name: round(stamps[k + 1] - at, 3) for k, (name, at) in enumerate(marks)}
    row = db.season(season)
    exports = {}
    for fmt in ("csv", "parquet"):
        t = time.perf_counter()
        export_season(db, row, fmt, out / fmt)
        exports[fmt] = round(time.perf_counter() - t, 3)
    return {
        "season": season,
        "streamers": len(data.streamers),
        "rounds": len(data.scored_rounds),
        "stream_rounds": len(data.stream_rounds),
        "load_s": round(load_s, 3),
        "report_s": round(end - t0, 3),
        "sections_s": sections,
        "plots": len(built.plots),
        "timelapses": len(built.timelapses),
        "html_bytes": built.html_path.stat().st_size,
        "export_s": exports,
        "notes": built.notes,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db")
    p.add_argument("--season")
    p.add_argument("--streamers", type=int, default=6)
    p.add_argument("--rounds", type=int, default=12)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        played = None
        if a.db and a.season:
            db, season = a.db, a.season
        else:
            db, season, played = play(Path(tmp), a.streamers, a.rounds)
        result = bench(db, season, Path(tmp))
        if played is not None:
            result["season_play_s"] = round(played, 3)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
