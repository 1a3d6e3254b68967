"""Voices in real seasons: a streamer's lines are queued on the stream clock and recorded (`spoke`), the
same season replays them exactly, the speech budget refuses spam and the audience's `voice` term rewards the
commentator and costs the spammer; broadcast, each streamer gets a portrait from its own generator, speaks on
its HLS audio track and places its avatar; a persona pointing at a missing voice file stops the season at
start with one line and nothing stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from common.errors import ConfigError
from media.avatar.placement import AvatarPlacement
from policies.base import Policy
from tests.conftest import REPO, write_config

LINES = ("The harbour is burning gold tonight.", "Watch the red comets fall!", "Here comes the big finale.")


class Talkers(Policy):
    """s01 comments once a round; s02 spams the same line; s03 stays silent and hides its avatar."""

    name = "talkers"

    def decide(self, obs, act, rng) -> None:
        if obs.stream_id == "s01":
            act("speak", {"text": LINES[obs.round % len(LINES)]})
            act("place_avatar", {"x": 0.2, "y": 0.2, "size": 0.9})
        elif obs.stream_id == "s02":
            for _ in range(5):
                act("speak", {"text": "Like and follow, like and follow!"})
        else:
            act("place_avatar", {"visible": False})


def _season(tmp_path: Path, name: str, **over):
    path = write_config(tmp_path, streamers=3, rounds=2, round_seconds=3.0, relegation={"every": 0}, **over)
    config = load_season_config(path, name=name)
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    runner.policy = Talkers()
    assert runner.run() == "finished"
    return runner, db


def _spoke(db: Database, sid: int) -> list[tuple[int, dict]]:
    return [(e.round, e.payload) for e in db.events(sid) if e.kind == "spoke"]


def test_lines_are_scheduled_on_the_stream_clock_replay_exactly_and_move_viewers(tmp_path):
    runner, db = _season(tmp_path / "a", "voices")
    spoke = _spoke(db, runner.season.id)
    mine = [p for _, p in spoke if p["slot"] == "s01"]
    assert [len(p["lines"]) for p in mine] == [1, 1]
    starts = [p["lines"][0]["start"] for p in mine]
    assert starts == [0.5, 3.5]  # round_seconds 3: each round's line 0.5 s after the round's start
    spam = [p for _, p in spoke if p["slot"] == "s02"]
    assert [len(p["lines"]) for p in spam] == [1, 0] and [p["refused"] for p in spam] == [4, 5]  # 2 a round max
    decision = next(e for e in db.events(runner.season.id) if e.kind == "decision" and e.payload["slot"] == "s02")
    assert "said already" in [a for a in decision.payload["actions"] if not a["ok"]][0]["result"]

    terms = {
        (e.round, s["slot"]): s["ern_terms"]["voice"]
        for e in db.events(runner.season.id)
        if e.kind == "round_scored"
        for s in e.payload["streams"].values()
    }
    assert terms[(2, "s01")] > 0 > terms[(2, "s02")] and terms[(2, "s03")] == 0

    again, db2 = _season(tmp_path / "b", "voices")
    assert _spoke(db2, again.season.id) == spoke  # the same season speaks the same lines at the same times


def test_broadcast_season_has_faces_voices_and_placement(tmp_path):
    runner, db = _season(tmp_path, "faces", broadcast={"enabled": True, "port": 0, "output_height": 0})
    run_dir = Path(runner.season.run_dir)
    assert sorted(p.name for p in (run_dir / "avatars").iterdir()) == ["s01.png", "s02.png", "s03.png"]
    workers = runner.broadcaster._workers  # stopped at the end of run(); the workers keep their state
    assert workers["s01"].placement == AvatarPlacement(x=0.2, y=0.2, size=0.5, visible=True)  # size clamped
    assert workers["s03"].placement.visible is False and workers["s02"].placement == AvatarPlacement()
    assert all(w.animator is not None for w in workers.values())
    hls = run_dir / "streams" / "s01"
    vtt = (hls / "captions.vtt").read_text()
    assert any(line in vtt for line in LINES)
    with av.open(str(hls / "index.m3u8")) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert float(np.sqrt((audio**2).mean())) > 1e-3  # the stream was heard, not only silence


def test_missing_voice_file_stops_the_season_at_start_with_one_line(tmp_path):
    personas = tmp_path / "personas"
    personas.mkdir()
    for f in ("pyro.yaml", "forest_monk.yaml", "rain_poet.yaml"):
        shutil.copy(REPO / "agents" / "personas" / f, personas / f)
    data = yaml.safe_load((personas / "pyro.yaml").read_text())
    data["voice_file"] = str(tmp_path / "voices" / "kaboom.onnx")
    (personas / "pyro.yaml").write_text(yaml.safe_dump(data))
    path = write_config(tmp_path, personas=str(personas))
    config = load_season_config(path, name="mute")
    db = Database(config.database)
    with pytest.raises(ConfigError) as err:
        SeasonRunner.create(config, db)
    msg = str(err.value)
    assert "\n" not in msg and "kaboom.onnx" in msg and "Captain Kaboom" in msg and "does not exist" in msg
    assert db.season("mute") is None
