"""An experiment as a user runs it: rotated mixed seasons stored and linked, shares, CIs, --json, resume,
--report and bad input. One tiny experiment (2 policies, 2 streamers, 2 seasons of 2 one-second rounds) is
played once for the module: its first season in-process and stopped, the second by the CLI continuing it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from arena.config import load_season_config
from arena.db import Database, ExperimentSeason
from arena.experiment import Tick, experiment_result, find_experiment, run_experiment
from tests.conftest import write_config
from tests.e2e.test_cli import arena

POLICIES = ["hold", "random"]


@dataclass
class Played:
    tmp: Path
    cfg: Path
    db: Path
    first: dict  # the in-process run, stopped after season 1
    first_events: int  # events of season 1 when it was stopped
    cli: object  # the CLI run that continued it (CompletedProcess)


def experiment_args(cfg: Path, *extra: str) -> list[str]:
    return ["experiment", "--config", str(cfg), "--policies", ",".join(POLICIES), "--seasons", "2", *extra]


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> Played:
    tmp = tmp_path_factory.mktemp("experiment")
    cfg = write_config(tmp, streamers=2, rounds=2, round_seconds=1.0)
    base = load_season_config(cfg)
    db = Database(base.database)
    stop = threading.Event()

    def stop_after_first_season(t: Tick) -> None:
        if t.done >= base.rounds:
            stop.set()

    first = run_experiment(base, POLICIES, 2, db, "ex", stop_after_first_season, stop)
    season1 = db.season("ex-b0-r0")
    n_events = len(db.events(season1.id))
    cli = arena(*experiment_args(cfg, "--name", "ex", "--json"), cwd=tmp)
    return Played(tmp, cfg, Path(base.database), first.model_dump(), n_events, cli)


def test_stopped_experiment_continues_without_rerunning_finished_seasons(played):
    assert played.first["status"] == "stopped" and played.first["seasons_finished"] == 1
    assert played.cli.returncode == 0, played.cli.stderr
    db = Database(str(played.db))
    season1 = db.season("ex-b0-r0")
    assert len(db.events(season1.id)) == played.first_events  # read back, not replayed
    assert [s.name for s in db.seasons()] == ["ex-b0-r0", "ex-b0-r1"]
    before = [len(db.events(s.id)) for s in db.seasons()]
    again = arena(*experiment_args(played.cfg, "--name", "ex", "--json"), cwd=played.tmp)
    assert again.returncode == 0, again.stderr
    assert [len(db.events(s.id)) for s in db.seasons()] == before and len(db.seasons()) == 2
    assert json.loads(again.stdout) == json.loads(played.cli.stdout)


def test_seasons_are_stored_linked_and_rotate_the_policy_mix(played):
    db = Database(str(played.db))
    ex = find_experiment(db, "ex")
    assert ex.status == "finished" and ex.seasons_planned == 2 and json.loads(ex.policies_json) == POLICIES
    with db.session() as s:
        links = list(s.exec(select(ExperimentSeason).where(ExperimentSeason.experiment_id == ex.id)))
    assert sorted((x.block, x.rotation) for x in links) == [(0, 0), (0, 1)]
    slots: dict[str, set[str]] = {p: set() for p in POLICIES}
    personas: dict[str, set[str]] = {}
    for link in links:
        season = db.season(link.season_id)
        cfg = json.loads(season.config_json)
        assert cfg["seed"] == 11 and cfg["relegation"]["every"] == 0
        assert cfg["policy_mix"] == POLICIES[link.rotation :] + POLICIES[: link.rotation]
        for e in db.events(season.id, kinds=["streamer_spawned"]):
            slots[e.payload["policy"]].add(e.payload["slot"])
            personas.setdefault(e.payload["slot"], set()).add(e.payload["name"])
    assert slots == {"hold": {"s01", "s02"}, "random": {"s01", "s02"}}  # each policy played each slot once
    assert all(len(names) == 1 for names in personas.values())  # same seed: slot k has the same persona


def test_json_output_has_the_result_and_shares_sum_to_one(played):
    out = json.loads(played.cli.stdout)  # stdout is exactly one JSON object
    assert {
        "name",
        "status",
        "policies",
        "seasons_planned",
        "seasons_finished",
        "fair_share",
        "shares",
        "pairs",
    } <= set(out)
    assert out["status"] == "finished" and out["seasons_finished"] == 2 and out["fair_share"] == 0.5
    for season in out["seasons"]:
        assert sum(season["shares"].values()) == pytest.approx(1.0)
    for s in out["shares"]:
        assert s["low"] <= s["mean"] <= s["high"] and s["seasons"] == 2
    assert sum(s["mean"] for s in out["shares"]) == pytest.approx(1.0)
    (pair,) = out["pairs"]
    assert (pair["a"], pair["b"]) == ("hold", "random") and pair["low"] <= pair["mean_diff"] <= pair["high"]
    assert out == experiment_result(Database(str(played.db)), "ex").model_dump()


def test_report_prints_the_stored_result_without_running(played):
    r = arena("experiment", "--name", "ex", "--db", str(played.db), "--report", "--json", cwd=played.tmp)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(played.cli.stdout)
    r = arena("experiment", "--name", "ex", "--db", str(played.db), "--report", cwd=played.tmp)
    assert r.returncode == 0 and "hold vs random" in r.stdout and "fair share: 50.0%" in r.stdout


@pytest.mark.parametrize(
    ("policies", "seasons", "message"),
    [("hold,bogus", "2", "unknown policy 'bogus'"), ("hold,random", "3", "multiple of the 2 policies")],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, policies, seasons, message):
    cfg = write_config(tmp_path, streamers=2, rounds=2, round_seconds=1.0)
    r = arena("experiment", "--config", str(cfg), "--policies", policies, "--seasons", seasons, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout == "" and not (tmp_path / "arena.db").exists()
    r = arena(
        "experiment",
        "--config",
        str(tmp_path / "missing.yaml"),
        "--policies",
        "hold,random",
        "--seasons",
        "2",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_html_report_shows_the_stored_result(played, tmp_path):
    """`report --experiment`: the shares, CIs and paired rows are the stored result's; the per-persona view
    covers every persona that played each policy; the page holds its plots inline."""
    from arena.cli import main
    from tests.arena.report.conftest import Tables

    out = tmp_path / "report"
    assert main(["report", "--experiment", "ex", "--db", str(played.db), "--out", str(out)]) == 0
    page = Tables((out / "experiment.html").read_text())
    result = experiment_result(Database(str(played.db)), "ex")
    shares = {row[0]: [float(x) for x in row[1:4]] for row in page.tables["shares"]}
    assert shares == {s.policy: [s.mean, s.low, s.high] for s in result.shares}
    (pair,) = page.tables["pairs"]
    assert float(pair[1]) == result.pairs[0].mean_diff
    personas = {(row[0], row[1]) for row in page.tables["personas"]}
    assert {p for _, p in personas} == set(POLICIES) and len(personas) == 2 * len({n for n, _ in personas})
    assert len(page.images) == 3 and all(i.startswith("data:image/png;base64,") for i in page.images)
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["paired.png", "persona.png", "policy_share.png"]
