"""What each tool earns in the same audience: the seasons of `tests/e2e/test_tools_pay.py`, printed as JSON.

Streamer 1's share of ERN over rounds 2-4 after one move in round 1 (hold = the baseline, same seed), and the
total ERN of a season of good streams vs one of frozen, off-topic, stalling streams.
Usage: .venv/bin/python bench/tools_pay.py"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.test_tools_pay import GOOD, MOVES, POOR, season, share  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    out = {"hold": round(share(season(tmp, "hold", {})), 4)}
    for move, (calls, _) in MOVES.items():
        out[move] = round(share(season(tmp, move, {"s01": calls})), 4)
    slots = ("s01", "s02", "s03")
    for name, calls in (("good", GOOD), ("poor", POOR)):
        ern = season(tmp, name, dict.fromkeys(slots, calls), streamers=3)
        out[f"{name}_season_total_ern"] = round(sum(ern.values()))
    print(json.dumps({"bench": "tools_pay", **out}))


if __name__ == "__main__":
    main()
