"""What every command module of the CLI shares: the two consoles, opening a database, finding a season and
printing standings. Its own module so `arena.cli` and the `arena.cli_*` command modules import it without
importing each other."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.errors import ConfigError

console = Console()
err_console = Console(stderr=True)


class Parser(argparse.ArgumentParser):
    """argparse prints usage on error; we want the project's one clear line and exit status 2 (a bad flag is
    a ConfigError like a bad YAML field)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def open_db(path: str, *, must_exist: bool = True):
    """The database at `path`; a missing file is a user error, not a fresh empty database."""
    from arena.db import Database

    if must_exist and "://" not in path and not Path(path).exists():
        raise ConfigError(f"database {path} does not exist")
    return Database(path)


def find_season(db, key: str):
    season = db.season(key)
    if season is None:
        raise ConfigError(f"no season {key!r} in {db.url}")
    return season


def print_table(rows: list[dict], title: str) -> None:
    t = Table(title=title)
    for col in ("rank", "streamer", "ERN", "share", "rating", "status"):
        t.add_column(col, justify="right" if col in ("rank", "ERN", "share", "rating") else "left")
    for r in rows:
        t.add_row(
            str(r["rank"]), r["name"], f"{r['ern']:.1f}", f"{r['share']:.1%}", f"{r['rating']:.2f}", r.get("status", "")
        )
    console.print(t)


def stored_config(season):
    """A stored season's config; a config this version no longer accepts is a one-line error."""
    from arena.config import SeasonConfig

    try:
        return SeasonConfig.model_validate_json(season.config_json)
    except ValueError as exc:
        raise ConfigError(
            f"season {season.name!r}: stored config no longer valid: {str(exc).splitlines()[0]}"
        ) from None


def check_llm_environment(config, policies: list[str] | None = None) -> None:
    """The LLM that `llm` streamers need (`policies`: every policy the run plays; default the config's),
    checked before anything is written: the embedded model's settings from the environment (the model itself
    loads later, before round 1), or that a configured endpoint answers at all and a hosted provider's key is
    set (`crews.llm.preflight`)."""
    from crews.llm.preflight import endpoint_problem
    from crews.llm_config import choose_dtype, is_embedded

    if "llm" not in (policies or config.policy_mix or [config.policy]):
        return
    if is_embedded(config.llm.model):
        try:
            choose_dtype()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    elif problem := endpoint_problem(config.llm.model, config.llm.api_base):
        raise ConfigError(f"{problem}; nothing was started")
