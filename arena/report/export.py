"""Export a season's rows from every table as CSV or parquet (`python -m arena export SEASON`).

Why reflect the file's tables instead of listing the models: the export must hold every table the file has,
including ones added by versions newer than this module (chat, voices...). A table with a `season_id`
column gives the season's rows; `season` gives its row; `experiment` the experiments it belongs to; a table
keyed only by `streamer_id` gives the rows of the season's streamers. Anything else is not the season's and is
listed as skipped. CSV writes NULL as an empty field and every other value as Python's `str` (floats
round-trip exactly; an empty string in a nullable text column reads back as NULL); `manifest.json` lists
each table's rows and each column's type and nullability, for reading the CSV back; parquet keeps the SQL types (integers, floats, booleans, text).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import MetaData, Table, select
from sqlalchemy import types as sa_types

from arena.db import Database, Season

Format = Literal["csv", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "parquet")


@dataclass
class Exported:
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows written
    skipped: list[str] = field(default_factory=list)  # tables not tied to the season


def season_rows(db: Database, season: Season) -> tuple[dict[str, tuple[Table, list[dict[str, Any]]]], list[str]]:
    """table name -> (table, the season's rows as dicts, in primary-key order); and the tables skipped."""
    meta = MetaData()
    meta.reflect(db.engine)
    sid = int(season.id)
    out: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
    skipped: list[str] = []
    with db.engine.connect() as conn:

        def rows(table: Table, where) -> list[dict[str, Any]]:
            q = select(table).where(where).order_by(*table.primary_key.columns)
            return [dict(r._mapping) for r in conn.execute(q)]

        streamer_ids = [r["id"] for r in rows(meta.tables["streamer"], meta.tables["streamer"].c.season_id == sid)]
        for name in sorted(meta.tables):
            t = meta.tables[name]
            if name == "season":
                out[name] = (t, rows(t, t.c.id == sid))
            elif "season_id" in t.c:
                out[name] = (t, rows(t, t.c.season_id == sid))
            elif "streamer_id" in t.c:
                out[name] = (t, rows(t, t.c.streamer_id.in_(streamer_ids)))
            elif name != "experiment":
                skipped.append(name)
        if "experiment" in meta.tables and "experimentseason" in out:
            ids = [r["experiment_id"] for r in out["experimentseason"][1]]
            t = meta.tables["experiment"]
            out["experiment"] = (t, rows(t, t.c.id.in_(ids)))
    return out, skipped


def export_season(db: Database, season: Season, fmt: Format, folder: Path) -> Exported:
    folder.mkdir(parents=True, exist_ok=True)
    tables, skipped = season_rows(db, season)
    result = Exported(folder, skipped=skipped)
    for name, (table, rows) in tables.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            write_csv(path, table, rows)
        else:
            write_parquet(path, table, rows)
        result.tables[name] = len(rows)
    manifest = {
        "season": season.name,
        "format": fmt,
        "tables": {
            n: {
                "rows": len(r),
                "columns": {c.name: {"type": _kind(c.type), "nullable": bool(c.nullable)} for c in t.columns},
            }
            for n, (t, r) in tables.items()
        },
        "skipped": skipped,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return result


def column_types(table: Table) -> dict[str, str]:
    """Column -> int | float | bool | text: how a reader should parse the column back."""
    return {c.name: _kind(c.type) for c in table.columns}


def _kind(t: sa_types.TypeEngine) -> str:
    if isinstance(t, sa_types.Boolean):
        return "bool"
    if isinstance(t, sa_types.Integer):
        return "int"
    if isinstance(t, sa_types.Float | sa_types.Numeric):
        return "float"
    return "text"


def write_csv(path: Path, table: Table, rows: list[dict[str, Any]]) -> None:
    cols = [c.name for c in table.columns]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r[c] is None else r[c] for c in cols])


def write_parquet(path: Path, table: Table, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "text": pa.string()}
    schema = pa.schema([(c, kinds[k]) for c, k in column_types(table).items()])
    columns = {c: [_plain(r[c], schema.field(c).type) for r in rows] for c in schema.names}
    pq.write_table(pa.table(columns, schema=schema), path)


def _plain(v: Any, t) -> Any:
    import pyarrow as pa

    if v is None:
        return None
    if t == pa.string() and not isinstance(v, str):
        return str(v)
    return v


def read_csv_value(text: str, kind: str, nullable: bool) -> Any:
    """One CSV field back to its value (the inverse of `write_csv` for a column of `kind`, as the manifest
    lists it). An empty field is NULL, except in a text column that cannot be NULL, where it is empty text."""
    if text == "":
        return "" if kind == "text" and not nullable else None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text == "True"
    return text


__all__ = ["FORMATS", "Exported", "column_types", "export_season", "read_csv_value", "season_rows"]
