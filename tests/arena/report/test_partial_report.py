"""A season that is empty, killed half-way or moved away from its run folder still gives a report: partial,
with a note that says so, never a crash. A missing season or a bad flag is one line and exit 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from arena.cli import main
from tests.arena.report.conftest import NAME, Tables, sql


def cut_back(played, tmp_path, rounds: int, *, delete: bool = True) -> Path:
    """A copy of the tiny season as a kill after round `rounds` leaves it (0: created, never played): status
    running, its run folder gone, and with `delete` the later rows and events gone. Without `delete` the later
    rows stay, as a reader sees them when the next round commits between its reads."""
    db = tmp_path / f"cut{rounds}.db"
    with sqlite3.connect(played.db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    sql(db, "update season set status='running', rounds_done=?, run_dir=?", rounds, str(tmp_path / "gone"))
    if not delete:
        return db
    for table in ("streamstat", "action", "event"):
        sql(db, f"delete from {table} where round > ?", rounds)
    sql(db, "delete from event where kind like 'season_%' and kind != 'season_created'")
    sql(db, "delete from round where number > ?", rounds)
    sql(db, "delete from streamer where born_round >= ?", max(rounds, 1))
    sql(db, "update streamer set status='live', relegated_round=null")
    return db


def test_empty_season_gives_a_partial_report(played, tmp_path):
    db = cut_back(played, tmp_path, 0)
    out = tmp_path / "report"
    assert main(["report", NAME, "--db", str(db), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Season still running (or killed while running): 0 of 3 rounds stored" in html
    assert "No round has been scored yet" in html and "could not be drawn" not in html
    page = Tables(html)
    head = dict(zip(page.keys["headline"], page.tables["headline"]))
    assert head["streams_created"][1] == "3" and head["rounds_played"][1] == "0"
    assert len(page.tables["lineage"]) == 3


def test_half_written_season_reports_the_rounds_it_has(played, tmp_path):
    """Round 1 stored, round 2 committing while the report reads, the run folder gone: the report covers
    round 1 only (nobody relegated yet, no newcomer) and says what is missing."""
    db = cut_back(played, tmp_path, 1, delete=False)
    out = tmp_path / "report"
    assert main(["report", NAME, "--db", str(db), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "1 of 3 rounds stored" in html and "not found from here" in html and "could not be drawn" not in html
    page = Tables(html)
    assert len(page.tables["league-final"]) == 3 and "league-r2" not in page.tables
    head = dict(zip(page.keys["headline"], page.tables["headline"]))
    assert (head["rounds_played"][1], head["streams_created"][1], head["relegations"][1]) == ("1", "3", "0")
    assert [r[5] for r in page.tables["lineage"]] == ["–"] * 3  # relegated: none by round 1
    assert not (out / "timelapse").exists()


def test_bad_report_input_is_one_line(played, tmp_path, capsys):
    db = str(played.db)
    cases = [
        (["report", "nope", "--db", db], "error: no season 'nope'"),
        (["report", "--db", db], "error: report: name a season"),
        (["report", NAME, NAME, NAME, "--db", db], "error: report: at most two seasons"),
        (["report", NAME, "--experiment", "x", "--db", db], "error: report: give seasons or --experiment"),
        (["report", "--experiment", "x", "--db", db], "error: no experiment 'x'"),
        (["report", NAME, "--db", str(tmp_path / "missing.db")], "error: database"),
    ]
    for argv, start in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(start) and "\n" not in err, err
