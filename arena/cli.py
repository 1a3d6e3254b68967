"""The arena's commands: run, resume, list and inspect seasons, experiments (`arena.__main__` is the program
entry). Run and resume live here; the read-only season commands in `arena.cli_seasons`, experiments in
`arena.cli_experiment`, reports and exports in `arena.cli_report`.

Every error a user can cause is a `common.errors.UserError` and ends in one line on stderr and exit status 2,
before anything is written. Ctrl-C during a season stops it at the next tick with every finished round stored;
a second Ctrl-C aborts. The TUI is not imported here (tui sits above arena): `main` takes the callable that
shows a season (`watch`), and the program entry passes `tui.app.run_tui`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable

from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from arena import cli_experiment, cli_report, cli_seasons
from arena.cli_common import (
    Parser,
    check_llm_environment,
    console,
    err_console,
    find_season,
    open_db,
    print_table,
    stored_config,
)
from common.errors import ConfigError, UserError

#: Shows a season in front of the user: (database path, season name or None for the latest) -> exit status.
Watch = Callable[[str, str | None], int]

#: The flag each overridable config field comes from, so a bad value is blamed on what the user typed.
FLAGS = {
    "seed": "--seed",
    "rounds": "--rounds",
    "policy": "--policy",
    "database": "--db",
    "name": "--name",
    "clock": "--live",
}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m arena", description="Totoroid Arena: AI streamers compete for eyes.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    run = sub.add_parser("run", help="run a season (the default command)")
    run.add_argument("--config", help="season YAML (default: arena/configs/default.yaml)")
    run.add_argument("--seed", type=int)
    run.add_argument("--rounds", type=int)
    run.add_argument("--policy", help="hold | random | greedy | options | llm")
    run.add_argument(
        "--llm",
        metavar="MODEL",
        help="the LLM (any litellm model string; implies --policy llm), or "
        "replay:SEASON to answer every LLM call from that season's log (its stored config is used "
        "unless --config is given)",
    )
    run.add_argument("--db", help="database path or SQLAlchemy URL (default: from the config)")
    run.add_argument("--name", help="season name (default: generated)")
    run.add_argument("--live", action="store_true", help="wall-clock mode: streams run while agents think")
    run.add_argument("--tui", action="store_true", help="run with the Textual TUI in front")
    run.add_argument("--open", action="store_true", help="open the live page in a browser (live mode)")
    run.add_argument("--port", type=int, help="serve the watch page (and chat) on this port (0: any free one)")
    run.add_argument("--host", help="address the watch page binds (default 127.0.0.1: this machine only)")
    res = sub.add_parser("resume", help="continue a stopped or killed season")
    res.add_argument("season")
    res.add_argument("--db", default="arena.db")
    cli_seasons.add_parsers(sub)
    tu = sub.add_parser("tui", help="attach the Textual TUI to a season (running or finished)")
    tu.add_argument("season", nargs="?", help="season name or id (default: the latest)")
    tu.add_argument("--db", default="arena.db")
    cli_seasons.add_schema_parser(sub)
    cli_experiment.add_parser(sub)
    cli_report.add_parsers(sub)
    return p


def _run_season(runner) -> int:
    from arena.loop import RoundResult

    cfg = runner.config
    first = runner.season.rounds_done + 1

    def on_sigint(signum, frame):
        if runner.stop_event.is_set():
            raise KeyboardInterrupt
        runner.stop_event.set()
        err_console.print("[yellow]stopping at the next tick (Ctrl-C again to abort)…[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    last: list[RoundResult] = []
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[leader]}"),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task(runner.season.name, total=cfg.rounds, completed=first - 1, leader="")

            def on_round(res: RoundResult) -> None:
                last[:] = [res]
                lead = res.table[0]
                extra = f" | relegated {', '.join(res.relegated)} -> {', '.join(res.spawned)}" if res.relegated else ""
                progress.update(
                    task,
                    completed=res.round,
                    leader=f"leader {lead['name']} ({lead['ern']:.0f} ERN), {res.wall_seconds:.1f}s{extra}",
                )

            status = runner.run(on_round=on_round)
    finally:
        signal.signal(signal.SIGINT, previous)
    if last:
        print_table(last[0].table, f"{runner.season.name} after round {last[0].round}")
    if status == "stopped":
        console.print(
            f"stopped after round {runner.season.rounds_done}; continue with: "
            f"python -m arena resume {runner.season.name} --db {runner.db.url.removeprefix('sqlite:///')}"
        )
        return 130
    console.print(f"season {runner.season.name} finished: {cfg.rounds} rounds in {runner.db.url}")
    return 0


def cmd_run(args) -> int:
    from arena.config import load_season_config
    from arena.db import Database
    from arena.loop import SeasonRunner

    overrides = {
        "seed": args.seed,
        "rounds": args.rounds,
        "policy": args.policy,
        "database": args.db,
        "name": args.name,
    }
    if args.live:
        overrides["clock"] = "live"
    if args.llm and not args.policy:
        overrides["policy"] = "llm"
    watch = _watcher(args) if args.tui else None  # before anything is written
    config = _with_llm(
        load_season_config(args.config, flags=FLAGS, **overrides)
        if not _replay_source(args)
        else _replay_config(args, overrides),
        args.llm,
    )
    config = _with_page(config, args.port, args.host)
    check_llm_environment(config)
    db = Database(config.database)
    runner = SeasonRunner.create(config, db, source=str(args.config or "default season config"))
    if runner.broadcaster and runner.broadcaster.url:
        console.print(f"live page: {runner.broadcaster.url}")
        if args.open:
            import webbrowser

            webbrowser.open(runner.broadcaster.url)
    if watch is not None:
        return _run_with_tui(runner, watch)
    return _run_season(runner)


def _with_page(config, port: int | None, host: str | None):
    """`--port`/`--host`: serve the watch page there (also outside live mode); a bad value is one line naming
    the flag."""
    from pydantic import ValidationError

    from media.broadcast import BroadcastConfig

    if port is None and host is None:
        return config
    changes = {"enabled": True} | ({"port": port} if port is not None else {}) | ({"host": host} if host else {})
    try:
        page = BroadcastConfig.model_validate({**config.broadcast.model_dump(), **changes})
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]) if err.get("loc") else "--port"
        raise ConfigError(f"{flag}: {err['msg']}") from None
    return config.model_copy(update={"broadcast": page})


def _replay_source(args) -> str | None:
    """`--llm replay:SEASON` without `--config`: the season to copy the config from."""
    from crews.llm_config import REPLAY_PREFIX

    if args.llm and args.llm.startswith(REPLAY_PREFIX) and not args.config:
        return args.llm[len(REPLAY_PREFIX) :]
    return None


def _replay_config(args, overrides: dict):
    """The recorded season's stored config (same seed, sizes, personas), with the CLI's overrides on top."""
    from arena.config import SeasonConfig

    source = _replay_source(args)
    db = open_db(args.db or "arena.db")
    season = find_season(db, source)
    data = json.loads(season.config_json)
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["name"] = args.name  # None: a generated name (the recorded name is taken)
    data["database"] = args.db or data.get("database", "arena.db")
    try:
        return SeasonConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"season {source!r}: stored config no longer valid: {str(exc).splitlines()[0]}") from None


def _with_llm(config, model: str | None):
    """`--llm MODEL` replaces `llm.model` (validated like the YAML field)."""
    if not model:
        return config
    from arena.config import SeasonConfig

    data = config.model_dump()
    data["llm"] = {**data["llm"], "model": model}
    try:
        return SeasonConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"--llm {model!r}: {str(exc).splitlines()[0]}") from None


def _watcher(args: argparse.Namespace) -> Watch:
    """The TUI launcher `main` was given; without one (a library caller), the TUI commands are a user error."""
    watch: Watch | None = getattr(args, "watch", None)
    if watch is None:
        raise ConfigError("the TUI is not available here; run it with `python -m arena`")
    return watch


def _run_with_tui(runner, watch: Watch) -> int:
    """The season plays in a worker thread; the TUI reads the same database in front. Leaving the TUI
    stops the season at its next tick (everything finished is stored; resume continues it)."""
    import threading

    box: dict[str, object] = {}

    def play() -> None:
        try:
            box["status"] = runner.run()
        except BaseException as exc:  # reported after the TUI closes
            box["error"] = exc

    worker = threading.Thread(target=play, name="season", daemon=True)
    worker.start()
    code = watch(runner.db.url.removeprefix("sqlite:///"), runner.season.name)
    runner.stop_event.set()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    console.print(f"season {runner.season.name}: {box.get('status')} after round {runner.season.rounds_done}")
    return code


def cmd_resume(args) -> int:
    from arena.loop import SeasonRunner

    db = open_db(args.db)
    check_llm_environment(stored_config(find_season(db, args.season)))  # before resuming writes anything
    runner = SeasonRunner.resume(db, args.season)
    return _run_season(runner)


def cmd_tui(args) -> int:
    return _watcher(args)(args.db, args.season)


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "seasons": cli_seasons.cmd_seasons,
    "leaderboard": cli_seasons.cmd_leaderboard,
    "replay": cli_seasons.cmd_replay,
    "tui": cmd_tui,
    "schema": cli_seasons.cmd_schema,
    "experiment": cli_experiment.cmd_experiment,
    "report": cli_report.cmd_report,
    "export": cli_report.cmd_export,
}


def main(argv: list[str] | None = None, watch: Watch | None = None) -> int:
    """Run one command; returns its exit status. `watch` shows a season (the TUI; `arena.__main__` passes
    `tui.app.run_tui`); without it `run --tui` and `tui` are a one-line error."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv or ["run"])
        if args.command is None:
            args = build_parser().parse_args(["run", *argv])
        args.watch = watch
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING,
            format="%(message)s",
            handlers=[RichHandler(console=err_console, show_path=False)],
        )
        return COMMANDS[args.command](args)
    except UserError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("aborted", markup=False)
        return 130
