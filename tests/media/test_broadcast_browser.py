"""A real browser watches the page: headless Debian Chromium (tests/chromium.py) plays a broadcast stream."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from media.broadcast import BroadcastConfig, Broadcaster
from tests.chromium import DevTools, browser, wait_for  # noqa: F401  (browser is a fixture)


def _feed(b: Broadcaster, ids: list[str], stop: threading.Event, fps: float = 8.0) -> None:
    i = 0
    while not stop.is_set():
        for k, sid in enumerate(ids):
            f = np.zeros((64, 64, 3), np.uint8)
            f[:, (i * 3 + k * 20) % 64] = (255, 200, 0)
            b.on_frame(sid, f)
        i += 1
        stop.wait(1 / fps)


def test_page_plays_a_stream_and_counts_the_viewer(tmp_path: Path, browser: DevTools):
    cfg = BroadcastConfig(enabled=True, port=0, segment_seconds=0.5, window_segments=4, viewer_window_seconds=4.0)
    b = Broadcaster(cfg, tmp_path / "run")
    url = b.start()
    b.add_stream("s01", "Nebula <b>Nora</b>")
    b.add_stream("s02", "Rainy Rita")
    b.update_status(
        [
            {"id": "s01", "ern": 12.5, "status": "live", "rank": 1},
            {"id": "s02", "ern": 3.0, "status": "live", "rank": 2},
        ]
    )
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(b, ["s01", "s02"], stop), daemon=True)
    feeder.start()
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        q = "document.querySelector('video[data-stream=\"s01\"]')"
        wait_for(lambda: browser.eval(f"!!{q}"), 15, "the page to show stream s01")
        # The name is shown as text, not parsed as HTML.
        assert (
            browser.eval("document.querySelector('article[data-stream=\"s01\"] .name').textContent")
            == "Nebula <b>Nora</b>"
        )
        t1 = wait_for(lambda: browser.eval(f"{q}.currentTime > 0.5 && {q}.currentTime"), 30, "s01 to start playing")
        t2 = wait_for(
            lambda: (v := browser.eval(f"{q}.currentTime")) > t1 + 1.0 and v,
            15,
            "s01's currentTime to advance by a second",
        )
        assert t2 > t1 + 1.0 and browser.eval(f"{q}.paused") is False
        assert b.real_viewers()["s01"] >= 1
        # The page identifies itself with its viewer id, and was counted by segments it fetched in order.
        assert any(sid == "s01" and key.startswith("v:") for sid, _, key in b.viewers._viewers)
        # Relegation shows up on the page through /api/streams polling.
        b.end_stream("s02")
        b.update_status([{"id": "s02", "status": "relegated", "rank": 2}])
        wait_for(
            lambda: browser.eval("!!document.querySelector('#relegated article[data-stream=\"s02\"]')"),
            10,
            "s02 to move to the relegated section",
        )
        assert browser.eval("document.querySelector('article[data-stream=\"s02\"] .badge').textContent") == "relegated"
    finally:
        stop.set()
        feeder.join(2)
        b.stop()
