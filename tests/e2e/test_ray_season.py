"""The Ray backend end to end: a 2-actor season on a local Ray instance against the local engine, an actor
killed mid-season, and a cluster that cannot be reached.

Ray starts once for the module (a local instance on this machine's 2 cores, no dashboard, quiet) and is shut
down after it, so no Ray process outlives the tests. The local season is run once and shared.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from arena.resume_state import read_state
from tests.conftest import write_config
from tests.e2e.test_cli import arena

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(600)  # the module's fixtures start Ray and run two seasons; a loaded machine is slow

RAY2 = {"backend": "ray", "ray": {"actors": 2, "num_cpus_per_actor": 0.25}}


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def standings(db: Database, season_id: int) -> list[tuple]:
    """Every round's table: who, rank, ERN, frames generated and stall seconds."""
    return [
        (x.round, x.streamer_id, x.rank, x.ern_mean, x.frames_generated, x.stall_seconds) for x in db.stats(season_id)
    ]


def play(tmp_path, name, engine=None, on_round=None, **over):
    if engine:
        over["engine"] = engine
    config = load_season_config(write_config(tmp_path / name, **over), name=name)
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    assert runner.run(on_round=on_round and (lambda result: on_round(runner, result))) == "finished"
    return db, db.season(name), runner


@pytest.fixture(scope="module")
def local_season(tmp_path_factory):
    """The local engine on one torch thread, as each actor runs (num_cpus_per_actor < 1 -> one thread): the
    same device arithmetic on both sides (two threads on a loaded 2-core machine also run 10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        db, season, _ = play(tmp_path_factory.mktemp("local"), "local")
    finally:
        torch.set_num_threads(threads)
    return standings(db, season.id)


@pytest.fixture(scope="module")
def ray_season(ray_instance, tmp_path_factory):
    """One 2-actor Ray season, broadcasting, with actor 0 killed by `ray.kill` after round 2 (Ray restarts it).
    One season for the claims below keeps the module's Ray time small; the first two rounds and actor 1 never
    see the fault, and the whole season must still equal the local one."""
    pids = {}

    def kill_after_round_2(runner, result):
        if result.round == 2:
            pids["before"] = runner.world.engine.actor_pids()
            ray.kill(runner.world.engine.actors[0], no_restart=False)
        if result.round == 3:
            pids["after"] = runner.world.engine.actor_pids()

    broadcast = {"enabled": True, "port": 0}  # real viewers: none, so the standings are the local season's
    db, season, _ = play(tmp_path_factory.mktemp("ray"), "ray2", RAY2, kill_after_round_2, broadcast=broadcast)
    return db, season, pids


def test_two_actor_ray_season_matches_the_local_season(ray_season, local_season):
    db, season, _ = ray_season
    assert season.status == "finished" and season.rounds_done == 4
    # the turn-mode season is the local one: same tables, ERN, frames and stalls in every round (at these
    # sizes the device is far from saturated, so splitting the streams over two devices changes no frame)
    assert standings(db, season.id) == local_season
    # both actors carried streams (least-loaded placement: 3 streams -> 2 + 1, the respawn took the freed slot)
    placement = read_state(season.run_dir, 4)["engine"]["placement"]
    assert sorted(placement["owner"].values()) == [0, 0, 1]


def test_the_actors_encode_the_broadcast_under_the_run_dir(ray_season):
    """The driver never receives output frames with the Ray backend: each actor encodes its own streams' HLS
    into runs/<season>/streams/<slot>/, where the broadcast server serves them; relegated and final playlists
    end with ENDLIST."""
    db, season, _ = ray_season
    for st in db.streamers(season.id):  # s01..s03 and the respawn s04, on both actors
        folder = Path(season.run_dir) / "streams" / st.slot
        assert "#EXT-X-ENDLIST" in (folder / "index.m3u8").read_text(), st.slot
        assert list(folder.glob("seg_*.ts")), st.slot


def test_an_actor_killed_mid_season_is_restored_and_every_round_is_stored_once(ray_season):
    db, season, pids = ray_season
    assert pids["after"][0] != pids["before"][0] and pids["after"][1] == pids["before"][1]  # Ray restarted it
    assert [r.number for r in db.rounds(season.id)] == [1, 2, 3, 4]
    keys = [(x.round, x.streamer_id) for x in db.stats(season.id)]
    assert len(keys) == len(set(keys)) == 12
    faults = db.events(season.id, kinds=["engine_actor_restarted"])
    assert len(faults) == 1 and faults[0].round == 3
    assert faults[0].payload["actor"] == 0 and faults[0].payload["round"] == "replayed"
    assert faults[0].payload["streams"]  # the streams it restored from round 2's state, then replayed round 3 on


def test_actors_the_cluster_cannot_place_are_one_line_at_start(ray_instance):
    from common.errors import FieldError
    from media.ray_config import RayConfig
    from media.ray_engine import RayEngine

    with pytest.raises(FieldError, match=r"num_gpus_per_actor.*2 actors x 1 GPU need 2 GPUs; the Ray cluster has 0"):
        RayEngine(RayConfig(actors=2, num_gpus_per_actor=1), spec=None)


def test_a_cluster_that_cannot_be_reached_is_one_line_exit_2(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = {"backend": "ray", "ray": {"address": f"ray://127.0.0.1:{port}", "connect_timeout_seconds": 1}}
    path = write_config(tmp_path, engine=engine)
    r = arena("run", "--config", str(path), "--name", "nope", cwd=tmp_path)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "engine.ray.address" in lines[0] and f"127.0.0.1:{port}" in lines[0] and str(path) in lines[0]
    db = tmp_path / "arena.db"
    assert not db.exists() or Database(str(db)).seasons() == []
