"""The commands that read stored seasons without running anything: seasons, leaderboard, replay, and schema
(which writes the YAML schemas). Apart from `arena.cli` so each command module stays small."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from arena.cli_common import console, err_console, find_season, open_db, print_table
from common.errors import ConfigError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("seasons", help="list the seasons in a database")
    ls.add_argument("--db", default="arena.db")
    lb = sub.add_parser("leaderboard", help="a season's standings")
    lb.add_argument("season")
    lb.add_argument("--db", default="arena.db")
    lb.add_argument("--round", type=int, help="standings after this round (default: the last)")
    rp = sub.add_parser("replay", help="rebuild every round's standings from the event log and check them")
    rp.add_argument("season")
    rp.add_argument("--db", default="arena.db")
    rp.add_argument("--quiet", action="store_true", help="only the verdict line")


def add_schema_parser(sub: argparse._SubParsersAction) -> None:
    sc = sub.add_parser("schema", help="write JSON Schemas of the season and persona YAML")
    sc.add_argument("--out", default="schemas", help="output folder")


def cmd_seasons(args) -> int:
    db = open_db(args.db)
    t = Table(title=f"seasons in {args.db}")
    for col in ("id", "name", "seed", "status", "rounds"):
        t.add_column(col)
    for s in db.seasons():
        t.add_row(str(s.id), s.name, str(s.seed), s.status, f"{s.rounds_done}/{s.rounds_planned}")
    console.print(t)
    return 0


def cmd_leaderboard(args) -> int:
    from arena.scoring import Rating

    db = open_db(args.db)
    season = find_season(db, args.season)
    rnd = args.round if args.round is not None else season.rounds_done
    if rnd < 1 or rnd > season.rounds_done:
        raise ConfigError(f"--round {rnd}: season {season.name} has rounds 1..{season.rounds_done}")
    streamers = {s.id: s for s in db.streamers(season.id)}
    rows = [
        {
            "rank": st.rank,
            "name": streamers[st.streamer_id].name,
            "ern": st.ern_mean,
            "share": st.share,
            "rating": Rating(st.rating_mu, st.rating_sigma).ordinal,
            "status": "relegated" if (streamers[st.streamer_id].relegated_round or 10**9) <= rnd else "live",
        }
        for st in db.stats(season.id, rnd)
    ]
    print_table(rows, f"{season.name}, round {rnd}")
    return 0


def cmd_replay(args) -> int:
    from arena.season_replay import compare, rebuild_standings, stored_standings

    db = open_db(args.db)
    season = find_season(db, args.season)
    rebuilt = rebuild_standings(db, season.id)
    if not args.quiet:
        for r, rows in sorted(rebuilt.items()):
            print_table(
                [
                    {"rank": x.rank, "name": x.name, "ern": x.ern_mean, "share": x.share, "rating": x.ordinal}
                    for x in rows
                ],
                f"round {r} (rebuilt from the event log)",
            )
    diffs = compare(rebuilt, stored_standings(db, season.id))
    if diffs:
        for d in diffs[:20]:
            err_console.print(d)
        err_console.print(f"replay MISMATCH: {len(diffs)} differences between the event log and the stored standings")
        return 1
    console.print(f"replay OK: {len(rebuilt)} rounds rebuilt from the event log equal the stored standings")
    return 0


def cmd_schema(args) -> int:
    from agents.persona import Persona
    from arena.config import SeasonConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, model in (("season", SeasonConfig), ("persona", Persona)):
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
        console.print(f"wrote {path}")
    return 0
