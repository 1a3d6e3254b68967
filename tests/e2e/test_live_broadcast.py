"""Live mode with broadcast on: HLS per stream while the season runs, real viewers stored apart, ENDLIST on
relegation, a taken port refused before anything is stored."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from common.errors import ConfigError
from tests.chromium import browser, wait_for  # noqa: F401  (browser is a fixture)
from tests.conftest import write_config


def live_config(tmp_path, port=0, **over):
    settings = {"clock": "live", "rounds": 4, "round_seconds": 2.5, "broadcast": {"port": port, "fps": 6.0}, **over}
    return load_season_config(write_config(tmp_path, **settings), name="live")


def test_live_season_broadcasts_and_counts_real_viewers(tmp_path):
    config = live_config(tmp_path)
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    url = runner.broadcaster.url
    watched = sorted(runner.live)[0]
    done = threading.Event()

    def viewer():  # a real client, as a player does: poll the playlist, fetch its newest segment
        while not done.is_set():
            try:
                base = f"{url}streams/{watched}/"
                playlist = urllib.request.urlopen(f"{base}index.m3u8?viewer=test", timeout=2).read().decode()
                segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
                if segments:
                    urllib.request.urlopen(f"{base}{segments[-1]}?viewer=test", timeout=2).read()
            except OSError:
                pass
            time.sleep(0.3)

    t = threading.Thread(target=viewer, daemon=True)
    t.start()
    try:
        assert runner.run() == "finished"
    finally:
        done.set()
        t.join(5)
    season = db.season("live")
    by_slot = {s.slot: s for s in db.streamers(season.id)}
    stats = db.stats(season.id)
    seen = [s.real_viewers for s in stats if s.streamer_id == by_slot[watched].id]
    assert max(seen) >= 1, seen
    assert all(s.real_viewers == 0 for s in stats if s.streamer_id != by_slot[watched].id)
    folder = tmp_path / "runs" / "live" / "streams"
    relegated = [s for s in by_slot.values() if s.status == "relegated"]
    assert relegated and "#EXT-X-ENDLIST" in (folder / relegated[0].slot / "index.m3u8").read_text()
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe missing: run `make test`, which installs Debian's ffmpeg"
    live_slot = next(s.slot for s in by_slot.values() if s.status == "live")
    out = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            str(folder / live_slot / "index.m3u8"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "h264" in out.stdout and "aac" in out.stdout, out.stderr


def test_taken_port_is_one_clear_error_and_nothing_stored(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        config = live_config(tmp_path, port=port)
        db = Database(config.database)
        with pytest.raises(ConfigError, match=f"port {port}.*already in use"):
            SeasonRunner.create(config, db)
    assert db.seasons() == []


def test_browser_watching_a_live_season_is_counted_in_the_database(tmp_path, browser):
    """Headless Chromium opens the arena's page during a live season and plays the grid; the stream it plays
    gets real_viewers >= 1 in the streamstat table (stored apart from the simulated ERN)."""
    config = live_config(
        tmp_path,
        rounds=10,
        round_seconds=2.5,
        broadcast={"port": 0, "fps": 6.0, "segment_seconds": 0.5, "viewer_window_seconds": 4.0},
    )
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    url = runner.broadcaster.url
    watched = sorted(runner.live)[0]
    result: dict = {}
    season = threading.Thread(target=lambda: result.setdefault("status", runner.run()), daemon=True)
    season.start()
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        q = f"document.querySelector('video[data-stream=\"{watched}\"]')"
        wait_for(lambda: browser.eval(f"!!{q}"), 15, f"the page to show stream {watched}")
        t1 = wait_for(lambda: browser.eval(f"{q}.currentTime > 0.3 && {q}.currentTime"), 30, f"{watched} to play")
        wait_for(lambda: browser.eval(f"{q}.currentTime") > t1 + 0.5, 15, f"{watched}'s playback to advance")
    finally:
        season.join(120)
    assert result.get("status") == "finished"
    stored = db.season("live")
    streamer = next(s for s in db.streamers(stored.id) if s.slot == watched)
    seen = [s.real_viewers for s in db.stats(stored.id) if s.streamer_id == streamer.id]
    assert max(seen) >= 1, seen
