"""`python -m arena experiment`: compare policies in rotated mixed seasons (the design in `arena.experiment`).

Everything the user typed is checked before the database is touched (unknown policy, a season count that is
not a multiple of the policy count, a missing config: one line, exit 2, nothing written). Re-running the same
`--name` continues the experiment; `--report` prints a stored experiment's result without running anything.
With `--json`, stdout holds exactly one JSON object (the progress bar and messages go to stderr).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from arena.cli_common import check_llm_environment, console, err_console, open_db
from arena.experiment import (
    ExperimentResult,
    Tick,
    check_policies,
    experiment_result,
    find_experiment,
    plan_experiment,
    run_experiment,
    stored_plan,
)
from common.errors import ConfigError

FLAGS = {"seed": "--seed", "rounds": "--rounds", "database": "--db"}
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,70}$")  # season names <name>-b<b>-r<r> must stay valid (<= 80 chars)


def add_parser(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("experiment", help="compare policies in rotated mixed seasons (share of ERN, 95%% CIs)")
    ex.add_argument("--config", help="base season YAML (default: arena/configs/default.yaml)")
    ex.add_argument("--policies", help="comma-separated policies, e.g. greedy,random,hold")
    ex.add_argument("--seasons", type=int, help="number of seasons, a multiple of the number of policies")
    ex.add_argument("--name", help="experiment name (default: generated); the same name continues it")
    ex.add_argument("--db", help="database path (default: from the config)")
    ex.add_argument("--seed", type=int, help="seed of block 0 (block b plays seed + b)")
    ex.add_argument("--rounds", type=int, help="rounds per season")
    ex.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    ex.add_argument("--report", action="store_true", help="print a stored experiment's result; run nothing")


def cmd_experiment(args: argparse.Namespace) -> int:
    if args.report:
        return _report(args)
    base, policies, seasons, name = _resolve(args)
    plan_experiment(base, policies, seasons, name)  # every error before the database is opened
    if base.personas and not Path(base.personas).is_dir():
        raise ConfigError(f"{args.config}: field 'personas': folder {base.personas} not found")
    check_llm_environment(base, list(policies))
    db = open_db(base.database, must_exist=False)
    result = _run(base, policies, seasons, db, name, str(args.config or "default season config"))
    _print(result, args.json)
    if result.status != "finished":
        err_console.print(
            f"experiment {name} stopped; continue with: python -m arena experiment --name {name} --db {db.label}"
        )
        return 130
    return 0


def _resolve(args: argparse.Namespace):
    """(base config, policies, seasons, name): from the flags, and for an existing `--name` from what it was
    started with (flags given must then agree; `run_experiment` checks)."""
    from arena.config import load_season_config

    if args.name is not None and not NAME.match(args.name):
        raise ConfigError(f"--name {args.name!r}: use 1-70 letters, digits, '_', '.' or '-'")
    policies = check_policies(args.policies.split(",")) if args.policies else None
    base = load_season_config(args.config, flags=FLAGS, seed=args.seed, rounds=args.rounds, database=args.db)
    row = _existing(base.database, args.name)
    if row is not None:
        old_base, old_policies, old_seasons = stored_plan(row)
        if args.config is None:  # continue with the stored config (the flags given still apply)
            over = {"seed": args.seed, "rounds": args.rounds}
            old_base = old_base.model_copy(update={k: v for k, v in over.items() if v is not None})
            base = old_base.model_copy(update={"database": base.database})
        policies = policies or old_policies
        seasons = args.seasons if args.seasons is not None else old_seasons
        return base, policies, seasons, args.name
    if policies is None or args.seasons is None:
        raise ConfigError("experiment: a new experiment needs --policies and --seasons")
    return base, policies, args.seasons, args.name or f"exp-{base.seed}-{datetime.now():%Y%m%d-%H%M%S}"


def _existing(db_path: str, name: str | None):
    """The stored experiment of that name, without creating the database file (or its tables)."""
    if name is None or ("://" not in db_path and not Path(db_path).exists()):
        return None
    from arena.db import Database

    return find_experiment(Database(db_path, create=False), name)


def _run(base, policies: list[str], seasons: int, db, name: str, source: str) -> ExperimentResult:
    """The experiment under a progress bar on stderr (seasons x rounds); Ctrl-C stops the season in flight at
    its next tick, a second Ctrl-C aborts."""
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        err_console.print("[yellow]stopping at the next tick (Ctrl-C again to abort)…[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err_console, transient=False) as progress:
            task = progress.add_task(name, total=seasons * base.rounds)

            def on_tick(t: Tick) -> None:
                progress.update(task, completed=t.done, description=t.season)

            return run_experiment(base, policies, seasons, db, name, on_tick, stop, source)
    finally:
        signal.signal(signal.SIGINT, previous)


def _report(args: argparse.Namespace) -> int:
    if args.name is None:
        raise ConfigError("experiment --report: give the experiment's --name")
    if args.db is None:
        from arena.config import load_season_config

        args.db = load_season_config(args.config).database
    _print(experiment_result(open_db(args.db), args.name), args.json)
    return 0


def _print(result: ExperimentResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    title = f"experiment {result.name}: {result.seasons_finished}/{result.seasons_planned} seasons ({result.status})"
    t = Table(title=title, caption=f"share of the season's total ERN; fair share 1/{len(result.policies)}")
    for col in ("policy", "mean share", "95% CI", "seasons"):
        t.add_column(col, justify="left" if col == "policy" else "right")
    for s in result.shares:
        t.add_row(s.policy, f"{s.mean:.1%}", f"[{s.low:.1%}, {s.high:.1%}]", str(s.seasons))
    console.print(t)
    p = Table(title="paired: A minus B, season by season")
    for col in ("A vs B", "mean difference", "95% CI", "A > B in"):
        p.add_column(col, justify="left" if col == "A vs B" else "right")
    for c in result.pairs:
        p.add_row(f"{c.a} vs {c.b}", f"{c.mean_diff:+.1%}", f"[{c.low:+.1%}, {c.high:+.1%}]", f"{c.a_wins:.0%}")
    console.print(p)
    console.print(f"fair share: {result.fair_share:.1%} (1/{len(result.policies)})")
