"""A real browser hears and reads a streamer: headless Chromium plays a stream whose line was said, decodes its
audio track, and shows the line's caption on the page while it plays (and the streamer's face)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from media.broadcast import BroadcastConfig, Broadcaster
from media.voice.profile import voice_profile
from tests.chromium import DevTools, browser, wait_for  # noqa: F401  (browser is a fixture)

LINE = "Look at the lightning over the bay."


def _feed(b: Broadcaster, stop: threading.Event, fps: float = 8.0) -> None:
    i = 0
    while not stop.is_set():
        f = np.zeros((64, 64, 3), np.uint8)
        f[:, (i * 3) % 64] = (255, 200, 0)
        b.on_frame("s01", f)
        i += 1
        stop.wait(1 / fps)


def test_page_plays_the_voice_and_shows_the_caption(tmp_path: Path, browser: DevTools):
    cfg = BroadcastConfig(enabled=True, port=0, segment_seconds=0.5, window_segments=6, viewer_window_seconds=4.0)
    b = Broadcaster(cfg, tmp_path / "run")
    url = b.start()
    b.add_stream("s01", "Storm Sam")
    b.set_face("s01", np.full((32, 32, 3), 120, np.uint8))
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(b, stop), daemon=True)
    feeder.start()
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        q = "document.querySelector('video[data-stream=\"s01\"]')"
        wait_for(lambda: browser.eval(f"!!{q} && {q}.currentTime > 0.3"), 30, "s01 to start playing")
        b.say("s01", voice_profile("s01", "clear alto", engine="espeak"), LINE)
        cap = "document.querySelector('article[data-stream=\"s01\"] .caption').textContent"
        wait_for(lambda: browser.eval(cap) == LINE, 20, "the spoken line's caption on the page")
        # With sound: unmuted (the page starts muted for autoplay), the player decodes the stream's audio track.
        browser.eval(f"{q}.muted = false, {q}.play(), 1")
        wait_for(lambda: browser.eval(f"{q}.webkitAudioDecodedByteCount") > 0, 10, "the audio track to be decoded")
        assert browser.eval(f"{q}.paused") is False
        assert browser.eval("document.querySelector('article[data-stream=\"s01\"] img.face').naturalWidth") == 32
        # The caption goes when the line is over.
        wait_for(lambda: browser.eval(cap) == "", 20, "the caption to clear after the line")
    finally:
        stop.set()
        feeder.join(2)
        b.stop()
