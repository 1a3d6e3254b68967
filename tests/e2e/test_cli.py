"""The CLI as a user drives it: run, list, leaderboard, replay, schema, bad input, Ctrl-C, kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.db import Database
from tests.conftest import REPO, write_config


def arena(
    *args: str, cwd: Path, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arena", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160", **(env or {})},
    )


def spawn(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "arena", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def rounds_done(db: Path, name: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            row = con.execute("select rounds_done from season where name=?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    return row[0] if row else 0


def wait_rounds(db: Path, name: str, n: int, proc: subprocess.Popen, limit: float = 180) -> None:
    t0 = time.time()
    while rounds_done(db, name) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < limit, "season did not progress"
        time.sleep(0.1)


def test_run_list_leaderboard_replay_schema(tmp_path):
    cfg = write_config(tmp_path)
    db = str(tmp_path / "arena.db")
    r = arena("run", "--config", str(cfg), "--name", "cli", "--rounds", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "finished" in r.stdout
    r = arena("seasons", "--db", db, cwd=tmp_path)
    assert r.returncode == 0 and "cli" in r.stdout and "3/3" in r.stdout
    r = arena("leaderboard", "cli", "--db", db, cwd=tmp_path)
    assert r.returncode == 0 and "round 3" in r.stdout
    r = arena("replay", "cli", "--db", db, cwd=tmp_path)
    assert r.returncode == 0 and "replay OK: 3 rounds" in r.stdout, r.stdout + r.stderr
    r = arena("schema", "--out", str(tmp_path / "schemas"), cwd=tmp_path)
    assert r.returncode == 0
    schema = json.loads((tmp_path / "schemas" / "season.schema.json").read_text())
    assert "round_seconds" in schema["properties"]
    assert "seed" in json.loads((tmp_path / "schemas" / "persona.schema.json").read_text())["required"]


def test_replay_detects_tampering(tmp_path):
    cfg = write_config(tmp_path, rounds=2)
    assert arena("run", "--config", str(cfg), "--name", "t", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "arena.db") as con:
        con.execute("update streamstat set ern_mean = ern_mean + 1 where round = 2 and rank = 1")
    r = arena("replay", "t", "--db", str(tmp_path / "arena.db"), "--quiet", cwd=tmp_path)
    assert r.returncode == 1 and "MISMATCH" in r.stderr


@pytest.fixture(scope="module")
def kept_season(tmp_path_factory) -> Path:
    """One stored season that every bad-input case must leave untouched."""
    tmp = tmp_path_factory.mktemp("kept")
    good = write_config(tmp, rounds=1)
    assert arena("run", "--config", str(good), "--name", "keep", cwd=tmp).returncode == 0
    return tmp / "arena.db"


@pytest.mark.parametrize(
    "text, expect",
    [
        ("rounds: -1\n", "field 'rounds'"),
        ("streamers: 6\nround_seconds: fast\n", "line 3: field 'round_seconds'"),
        ("generator:\n  defaults:\n    resolution: 77\n", "resolution"),
        ("policy: oracle\n", "field 'policy'"),
        ("seed: [1\n", "invalid YAML"),
        ("generator:\n  model: {checkpoint: /nowhere/base.safetensors}\n", "/nowhere/base.safetensors"),
        ("personas: /nowhere/personas\n", "field 'personas': folder /nowhere/personas not found"),
    ],
)
def test_bad_season_yaml_one_line_exit_2_nothing_lost(kept_season, tmp_path, text, expect):
    db = kept_season
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"database: {db}\n" + text)
    r = arena("run", "--config", str(bad), cwd=tmp_path)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and expect in lines[0], r.stderr
    assert [s.name for s in Database(str(db)).seasons()] == ["keep"]


def test_bad_flags_and_unknown_things(tmp_path):
    r = arena("run", "--rounds", "many", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = arena("run", "--config", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert r.returncode == 2 and "file not found" in r.stderr
    r = arena("leaderboard", "x", "--db", str(tmp_path / "none.db"), cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "none.db").exists()
    cfg = write_config(tmp_path, rounds=1)
    assert arena("run", "--config", str(cfg), "--name", "x", cwd=tmp_path).returncode == 0
    r = arena("resume", "nope", "--db", str(tmp_path / "arena.db"), cwd=tmp_path)
    assert r.returncode == 2 and "no season 'nope'" in r.stderr
    r = arena("run", "--config", str(cfg), "--name", "x", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr
    r = arena(
        "run", "--config", str(cfg), "--name", "y", "--policy", "llm", cwd=tmp_path, env={"TOTOROID_LLM_DTYPE": "int4"}
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "TOTOROID_LLM_DTYPE" in r.stderr
    assert [s.name for s in Database(str(tmp_path / "arena.db")).seasons()] == ["x"]  # nothing written, x kept


def one_line(r: subprocess.CompletedProcess) -> str:
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr)
    return lines[0]


def test_a_db_that_is_not_sqlite_is_one_line_exit_2_and_untouched(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"my notes, not a database\n" * 40)
    before = bad.read_bytes()
    cfg = write_config(tmp_path, rounds=1)
    for args in (
        ("run", "--config", str(cfg), "--db", str(bad), "--name", "z"),
        ("seasons", "--db", str(bad)),
        ("leaderboard", "z", "--db", str(bad)),
    ):
        line = one_line(arena(*args, cwd=tmp_path))
        assert line.startswith("error: ") and str(bad) in line and "not a SQLite database" in line, line
    assert bad.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "season.yaml"]  # no -wal, -shm, runs/


@pytest.mark.parametrize(
    "flags, expect",
    [
        (("--rounds", "-1"), "--rounds -1: Input should be greater than or equal to 1"),
        (("--seed", "-3"), "--seed -3: "),
        (("--name", "no spaces"), "--name 'no spaces': String should match pattern"),
    ],
)
def test_a_bad_flag_value_names_the_flag_not_the_config_file(kept_season, tmp_path, flags, expect):
    line = one_line(arena("run", *flags, "--db", str(kept_season), cwd=tmp_path))
    assert expect in line and "default.yaml" not in line and "line " not in line, line
    assert [s.name for s in Database(str(kept_season)).seasons()] == ["keep"]


def test_the_tui_is_wired_in_by_the_program_entry_not_by_arena_cli(tmp_path):
    """`python -m arena` reaches tui.app.run_tui; arena.cli itself never imports tui (tui sits above arena)."""
    line = one_line(arena("tui", "--db", str(tmp_path / "none.db"), cwd=tmp_path))
    assert line.startswith("tui: database") and "does not exist" in line, line
    code = (
        "import sys\nfrom arena.cli import main\nrc = main(['tui', '--db', 'none.db'])\n"
        "print(rc, any(m == 'tui' or m.startswith('tui.') for m in sys.modules))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.stdout.split() == ["2", "False"], r.stdout + r.stderr
    assert "error: the TUI is not available here" in r.stderr


def standings(db: Path, name: str) -> list[tuple]:
    d = Database(str(db))
    s = d.season(name)
    return [(x.round, x.rank, x.ern_mean, x.frames_generated, x.stall_seconds) for x in d.stats(s.id)]


def test_kill_9_then_resume_loses_and_doubles_nothing(tmp_path):
    cfg = write_config(tmp_path, rounds=6)
    db = tmp_path / "arena.db"
    proc = spawn("run", "--config", str(cfg), "--name", "k", cwd=tmp_path)
    wait_rounds(db, "k", 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = rounds_done(db, "k")
    assert 2 <= done < 6
    r = arena("resume", "k", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = Database(str(db))
    s = d.season("k")
    assert s.status == "finished" and [x.number for x in d.rounds(s.id)] == [1, 2, 3, 4, 5, 6]
    per_round = {}
    for st in d.stats(s.id):
        per_round[st.round] = per_round.get(st.round, 0) + 1
    assert per_round == dict.fromkeys(range(1, 7), 3)
    assert arena("replay", "k", "--db", str(db), "--quiet", cwd=tmp_path).returncode == 0
    # resume is exact: the same season uninterrupted gives the same standings
    cfg2 = write_config(tmp_path / "ref", rounds=6)
    assert arena("run", "--config", str(cfg2), "--name", "k", cwd=tmp_path).returncode == 0
    assert standings(db, "k") == standings(tmp_path / "ref" / "arena.db", "k")


def test_ctrl_c_stops_at_next_tick_and_resumes(tmp_path):
    cfg = write_config(tmp_path, rounds=5)
    db = tmp_path / "arena.db"
    proc = spawn("run", "--config", str(cfg), "--name", "c", cwd=tmp_path)
    wait_rounds(db, "c", 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume" in out
    d = Database(str(db))
    s = d.season("c")
    assert s.status == "stopped" and 1 <= s.rounds_done < 5
    assert len(d.stats(s.id)) == 3 * s.rounds_done
    r = arena("resume", "c", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [x.number for x in d.rounds(s.id)] == [1, 2, 3, 4, 5]


def test_an_llm_endpoint_that_cannot_be_reached_stops_run_before_anything_is_written(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{port}/v1"}
    cfg = write_config(tmp_path, rounds=1, policy="llm", llm=llm)
    line = one_line(arena("run", "--config", str(cfg), "--name", "z", cwd=tmp_path))
    assert line.startswith("error: llm endpoint http://127.0.0.1:") and "cannot be reached: connection refused" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["season.yaml"]  # no database, no runs/
