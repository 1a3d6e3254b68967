"""Voices in a real season: a streamer's lines are queued on the stream clock and recorded (`spoke`) at
times that depend on nothing but the stream clock, the speech budget refuses spam and the audience's `voice`
term rewards the commentator and costs the spammer; broadcast, each streamer gets a portrait from its own
generator, speaks on its HLS audio track and places its avatar; a persona pointing at a missing voice file
stops the season at start with one line and nothing stored."""

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
from media.voice.budget import estimate_seconds
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


def test_a_broadcast_season_speaks_on_the_stream_clock_with_faces_and_moves_viewers(tmp_path):
    runner, db = _season(tmp_path, "voices", broadcast={"enabled": True, "port": 0, "output_height": 0})
    sid = runner.season.id
    spoke = _spoke(db, sid)
    mine = [p for _, p in spoke if p["slot"] == "s01"]
    assert [len(p["lines"]) for p in mine] == [1, 1]
    # On the stream clock (round_seconds 3): each round's line 0.5 s after the round's start, its length from
    # the text; the same numbers on every replay of the season (nothing here depends on the wall clock).
    assert [p["lines"][0]["start"] for p in mine] == [0.5, 3.5]
    assert mine[0]["lines"][0]["end"] == 0.5 + estimate_seconds(
        LINES[1], runner.voices.profile(runner.live["s01"]).length_scale
    )
    spam = [p for _, p in spoke if p["slot"] == "s02"]
    assert [len(p["lines"]) for p in spam] == [1, 0] and [p["refused"] for p in spam] == [4, 5]
    decision = next(e for e in db.events(sid) if e.kind == "decision" and e.payload["slot"] == "s02")
    assert "said already" in [a for a in decision.payload["actions"] if not a["ok"]][0]["result"]

    terms = {
        (e.round, s["slot"]): s["ern_terms"]["voice"]
        for e in db.events(sid)
        if e.kind == "round_scored"
        for s in e.payload["streams"].values()
    }
    assert terms[(2, "s01")] > 0 > terms[(2, "s02")] and terms[(2, "s03")] == 0

    # Broadcast: a portrait per streamer from its generator, the lines on s01's audio track and captions, and
    # the avatars where the streamers put them.
    run_dir = Path(runner.season.run_dir)
    assert sorted(p.name for p in (run_dir / "avatars").iterdir()) == ["s01.png", "s02.png", "s03.png"]
    hls = run_dir / "streams" / "s01"
    vtt = (hls / "captions.vtt").read_text()
    assert LINES[1] in vtt and LINES[2] in vtt
    with av.open(str(hls / "index.m3u8")) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert float(np.sqrt((audio**2).mean())) > 1e-3  # the stream was heard, not only silence
    workers = runner.broadcaster._workers  # stopped at the end of run(); the workers keep their state
    assert workers["s01"].placement == AvatarPlacement(x=0.2, y=0.2, size=0.5, visible=True)  # size clamped
    assert workers["s03"].placement.visible is False and workers["s02"].placement == AvatarPlacement()
    assert all(w.animator is not None for w in workers.values())


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
