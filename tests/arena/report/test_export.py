"""`python -m arena export`: every table of the season as CSV and parquet, read back equal to the database
(row counts and every value), through the CLI; a bad format is one line and exit 2."""

from __future__ import annotations

import csv
import json
import sqlite3

import pyarrow.parquet as pq
import pytest

from arena.cli import main
from arena.report.export import read_csv_value
from tests.arena.report.conftest import NAME


def stored(db, table: str, season_id: int, kinds: dict[str, dict]) -> list[dict]:
    """The season's rows of `table` by plain SQL, booleans as Python bools."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    cols = con.execute(f"select * from {table} limit 0").description
    names = [c[0] for c in cols]
    if table == "season":
        where = "id = ?"
    elif "season_id" in names:
        where = "season_id = ?"
    else:
        where = "experiment_id is null and ? is not null"  # not reached by the tables of this season
    rows = [dict(r) for r in con.execute(f"select * from {table} where {where} order by id", (season_id,))]
    con.close()
    for r in rows:
        for c, k in kinds.items():
            if k["type"] == "bool" and r[c] is not None:
                r[c] = bool(r[c])
    return rows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips_every_table(played, tmp_path, fmt):
    out = tmp_path / fmt
    assert main(["export", NAME, "--db", str(played.db), "--format", fmt, "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    tables = manifest["tables"]
    assert {"season", "streamer", "round", "streamstat", "action", "event"} <= set(tables)
    assert tables["streamstat"]["rows"] == 9 and tables["round"]["rows"] == 3 and tables["season"]["rows"] == 1
    for name in ("season", "streamer", "round", "streamstat", "action", "event"):
        columns = tables[name]["columns"]
        want = stored(played.db, name, played.season_id, columns)
        if fmt == "parquet":
            got = pq.read_table(out / f"{name}.parquet").to_pylist()
        else:
            with (out / f"{name}.csv").open(newline="", encoding="utf-8") as f:
                got = [
                    {c: read_csv_value(v, columns[c]["type"], columns[c]["nullable"]) for c, v in row.items()}
                    for row in csv.DictReader(f)
                ]
        assert len(got) == len(want) == tables[name]["rows"], name
        assert got == want, name


def test_bad_format_is_one_line(played, tmp_path, capsys):
    assert main(["export", NAME, "--db", str(played.db), "--format", "xlsx", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: export --format 'xlsx': choose csv or parquet"
    assert not (tmp_path / "x").exists()
