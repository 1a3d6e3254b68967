"""One tiny real season for every report test (3 streamers, 3 one-second rounds, a relegation window after
round 2), played once per session through `SeasonRunner`, and its report built once through the CLI."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from arena.cli import main
from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from tests.conftest import write_config

NAME = "rep"


@dataclass(frozen=True)
class Played:
    tmp: Path
    db: Path
    run_dir: Path
    season_id: int


@dataclass(frozen=True)
class Report:
    played: Played
    out: Path
    html: str
    exit_code: int

    @property
    def path(self) -> Path:
        return self.out / "report.html"


@pytest.fixture(scope="session")
def played(tmp_path_factory) -> Played:
    tmp = tmp_path_factory.mktemp("report-season")
    config = load_season_config(
        write_config(tmp, streamers=3, rounds=3, round_seconds=1.0, relegation={"every": 2}), name=NAME
    )
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    assert runner.run() == "finished"
    return Played(tmp, Path(config.database), Path(config.run_dir) / NAME, int(runner.season.id))


@pytest.fixture(scope="session")
def report(played: Played) -> Report:
    out = played.tmp / "report"
    code = main(["report", NAME, "--db", str(played.db), "--out", str(out)])
    return Report(played, out, (out / "report.html").read_text(encoding="utf-8"), code)


def sql(db: Path, query: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(query, params).fetchall()


class Tables(HTMLParser):
    """Every <table id=...> of a page as rows of cells; a numeric cell is its exact `data-v` value (as text),
    any other cell its text. Also the `data-key` of each row, and every <img> src."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.keys: dict[str, list[str | None]] = {}
        self.images: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or f"_{len(self.tables)}"
            self.tables[self._table], self.keys[self._table] = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self._table and not self._in_head:
            self._row = []
            self.keys[self._table].append(a.get("data-key"))
        elif tag == "td" and self._row is not None:
            self._cell = [a["data-v"]] if "data-v" in a else []
            self._exact = "data-v" in a
        elif tag == "img":
            self.images.append(a.get("src", ""))

    def handle_data(self, data):
        if self._cell is not None and not self._exact:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
