"""`python -m arena report` and `python -m arena export`: a season's (or two seasons', or an experiment's)
HTML report with its plots, and a season's tables as CSV or parquet (the building blocks in `arena.report`).

Every flag is checked before anything is read or written (one line, exit 2); matplotlib, PyAV and pyarrow
are imported only by these commands, so running a season never pays for them. A long report shows a
progress bar on stderr, one step per section; stdout gets only the paths written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from arena.cli_common import console, err_console, find_season, open_db
from common.errors import ConfigError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser(
        "report", help="HTML report of a season (plots, tables, timelapses); two seasons side by side; an experiment"
    )
    rep.add_argument("seasons", nargs="*", metavar="SEASON", help="one season, or two to compare (name or id)")
    rep.add_argument("--experiment", metavar="NAME", help="report an experiment instead of seasons")
    rep.add_argument("--out", help="output folder (default: reports/<season>)")
    rep.add_argument("--db", default="arena.db")
    ex = sub.add_parser("export", help="write every table of a season as CSV or parquet")
    ex.add_argument("season", help="season name or id")
    ex.add_argument("--format", default="csv", help="csv | parquet (default: csv)")
    ex.add_argument("--out", help="output folder (default: exports/<season>)")
    ex.add_argument("--db", default="arena.db")


def _out_folder(given: str | None, default: str, flag: str = "--out") -> Path:
    out = Path(given) if given else Path(default)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {out}: cannot create the folder ({exc.strerror})") from None
    return out


def _progress() -> Progress:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=err_console, transient=False)


def cmd_report(args: argparse.Namespace) -> int:
    if args.experiment is not None:
        if args.seasons:
            raise ConfigError("report: give seasons or --experiment, not both")
        return _experiment(args)
    if not args.seasons:
        raise ConfigError("report: name a season (or two to compare, or --experiment NAME)")
    if len(args.seasons) > 2:
        raise ConfigError(f"report: at most two seasons to compare, got {len(args.seasons)}")
    db = open_db(args.db)
    rows = [find_season(db, key) for key in args.seasons]  # every name checked before anything is written
    from arena.report.data import load_season

    if len(rows) == 1:
        return _season(db, rows[0].name, args)
    a, b = (load_season(db, str(r.id), db_path=args.db) for r in rows)
    from arena.report.compare import _PAIRED, build_comparison

    out = _out_folder(args.out, f"reports/{a.name}-vs-{b.name}")
    with _progress() as progress:
        task = progress.add_task(f"{a.name} vs {b.name}", total=len(_PAIRED) + 3)
        built = build_comparison(a, b, out, on_step=lambda s: progress.update(task, advance=1, description=s))
        progress.update(task, completed=len(_PAIRED) + 3)
    console.print(f"report written: {built.html_path} ({len(built.plots)} plots)", highlight=False)
    return 0


def _season(db, name: str, args: argparse.Namespace) -> int:
    from arena.report.data import load_season
    from arena.report.season_report import build_season_report, steps

    out = _out_folder(args.out, f"reports/{name}")
    with _progress() as progress:
        task = progress.add_task("reading the season", total=None)
        data = load_season(db, name, db_path=args.db)
        total = len(steps(data))
        progress.update(task, total=total, completed=0)
        done = iter(range(total + 1))

        def on_step(title: str) -> None:
            progress.update(task, completed=next(done), description=title)

        built = build_season_report(data, out, on_step=on_step)
        progress.update(task, completed=total, description=name)
    console.print(
        f"report written: {built.html_path} ({len(built.plots)} plots, {len(built.timelapses)} timelapses)",
        highlight=False,
    )
    for n in built.notes:
        err_console.print(f"note: {n}", markup=False, highlight=False)
    return 0


def _experiment(args: argparse.Namespace) -> int:
    from arena.experiment import find_experiment
    from arena.report.experiment_report import build_experiment_report

    db = open_db(args.db)
    if find_experiment(db, args.experiment) is None:
        raise ConfigError(f"no experiment {args.experiment!r} in {db.url}")
    out = _out_folder(args.out, f"reports/experiment-{args.experiment}")
    with _progress() as progress:
        task = progress.add_task(args.experiment, total=4)
        built = build_experiment_report(
            db, args.experiment, out, on_step=lambda s: progress.update(task, advance=1, description=s)
        )
        progress.update(task, completed=4, description=args.experiment)
    console.print(f"report written: {built.html_path} ({len(built.plots)} plots)", highlight=False)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from arena.report.export import FORMATS, export_season

    if args.format not in FORMATS:
        raise ConfigError(f"export --format {args.format!r}: choose csv or parquet")
    db = open_db(args.db)
    season = find_season(db, args.season)
    out = _out_folder(args.out, f"exports/{season.name}")
    done = export_season(db, season, args.format, out)
    listing = ", ".join(f"{t} {n}" for t, n in done.tables.items())
    console.print(f"exported {season.name} as {args.format} to {out}: {listing}", highlight=False)
    return 0
