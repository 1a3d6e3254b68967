"""Rebuild a season's standings from its event log alone, and check them against the stored tables.

The event log is the source of truth. `rebuild_standings` reads only `streamer_spawned`, `round_scored`
and `relegated` events and recomputes every round's ranks, shares and openskill ratings with the same pure
functions the loop used (`arena.scoring`). `compare` lists every difference from the stored `StreamStat`
rows; an empty list means the derived tables are exactly what the log implies.
"""

from __future__ import annotations

from dataclasses import dataclass

from arena.db import Database
from arena.scoring import Rating, new_rating, ordinal, score_round


@dataclass(frozen=True)
class StandingRow:
    round: int
    rank: int
    streamer_id: int
    name: str
    ern_mean: float
    ern_peak: int
    share: float
    rating_mu: float
    rating_sigma: float

    @property
    def ordinal(self) -> float:
        return ordinal(self.rating_mu, self.rating_sigma)


def rebuild_standings(db: Database, season_id: int) -> dict[int, list[StandingRow]]:
    names: dict[int, str] = {}
    ratings: dict[int, Rating] = {}
    out: dict[int, list[StandingRow]] = {}
    for ev in db.events(season_id, kinds=("streamer_spawned", "round_scored", "relegated")):
        p = ev.payload
        if ev.kind == "streamer_spawned":
            names[p["streamer_id"]] = p["name"]
            ratings[p["streamer_id"]] = new_rating()
        elif ev.kind == "relegated":
            ratings.pop(p["streamer_id"], None)
        else:
            streams = {int(k): v for k, v in p["streams"].items()}
            ern = {i: float(v["ern_mean"]) for i, v in streams.items()}
            new, table = score_round({i: ratings[i] for i in ern}, ern)
            ratings.update(new)
            out[p["round"]] = [
                StandingRow(
                    p["round"],
                    s.rank,
                    s.streamer_id,
                    names[s.streamer_id],
                    s.ern_mean,
                    int(streams[s.streamer_id]["ern_peak"]),
                    s.share,
                    s.rating.mu,
                    s.rating.sigma,
                )
                for s in table
            ]
    return out


def stored_standings(db: Database, season_id: int) -> dict[int, list[StandingRow]]:
    names = {s.id: s.name for s in db.streamers(season_id)}
    out: dict[int, list[StandingRow]] = {}
    for st in db.stats(season_id):
        out.setdefault(st.round, []).append(
            StandingRow(
                st.round,
                st.rank,
                st.streamer_id,
                names[st.streamer_id],
                st.ern_mean,
                st.ern_peak,
                st.share,
                st.rating_mu,
                st.rating_sigma,
            )
        )
    return out


def compare(
    rebuilt: dict[int, list[StandingRow]], stored: dict[int, list[StandingRow]], tol: float = 1e-9
) -> list[str]:
    diffs: list[str] = []
    for r in sorted(set(rebuilt) | set(stored)):
        a, b = rebuilt.get(r, []), stored.get(r, [])
        if len(a) != len(b):
            diffs.append(f"round {r}: {len(a)} rows rebuilt vs {len(b)} stored")
            continue
        for x, y in zip(a, b):
            if (x.rank, x.streamer_id, x.name, x.ern_peak) != (y.rank, y.streamer_id, y.name, y.ern_peak):
                diffs.append(
                    f"round {r} rank {x.rank}: rebuilt {x.name}#{x.streamer_id} vs stored {y.name}#{y.streamer_id}"
                )
            for f in ("ern_mean", "share", "rating_mu", "rating_sigma"):
                if abs(getattr(x, f) - getattr(y, f)) > tol:
                    diffs.append(f"round {r} {x.name}: {f} rebuilt {getattr(x, f)!r} vs stored {getattr(y, f)!r}")
    return diffs
