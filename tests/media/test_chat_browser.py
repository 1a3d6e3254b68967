"""Two real pages chat on one stream: headless Debian Chromium (tests/chromium.py) on the watch page.

A message sent on one page appears on the other within 2 s, a message that looks like HTML stays text, and the
board's limits answer 429 (21st message in 10 s from one client) and 413 (a 100 kB body) to the page's own
fetch, so the refusals are what a browser gets.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from media.broadcast import BroadcastConfig, Broadcaster
from tests.chromium import DevTools, browser, wait_for  # noqa: F401  (browser is a fixture)

HOSTILE = "<img src=x onerror=alert(1)>"


def _second_page(first: DevTools, url: str) -> DevTools:
    """Open another tab in the same browser and connect to it (the DevTools port is the first socket's)."""
    host, port = first.sock.getpeername()[:2]
    target = first.call("Target.createTarget", url=url)["targetId"]
    targets = json.loads(urllib.request.urlopen(f"http://{host}:{port}/json/list", timeout=5).read())
    return DevTools(next(t["webSocketDebuggerUrl"] for t in targets if t["id"] == target))


def _send(page: DevTools, stream: str, text: str) -> None:
    page.eval(
        f"""(() => {{ const f = document.querySelector('article[data-stream="{stream}"] .chat form');
        f.querySelector('input').value = {json.dumps(text)}; f.requestSubmit(); }})()"""
    )


def _texts(page: DevTools, stream: str) -> list[str]:
    return page.eval(
        f"[...document.querySelectorAll('article[data-stream=\"{stream}\"] .chat li .text')].map(e => e.textContent)"
    )


def _status_of_post(page: DevTools, stream: str, body: str) -> int:
    """POST from inside the page (same origin, as the page's own code does) and return the status."""
    res = page.call(
        "Runtime.evaluate",
        expression=f"""fetch('/api/chat/{stream}', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},
        body: {body}}}).then(r => r.status)""",
        awaitPromise=True,
        returnByValue=True,
    )
    return res["result"]["value"]


def test_two_pages_chat_and_the_limits_hold(tmp_path: Path, browser: DevTools):
    b = Broadcaster(BroadcastConfig(enabled=True, port=0), tmp_path / "run")
    url = b.start()
    b.add_stream("s01", "Nebula Nora")
    b.update_status(
        [
            {
                "id": "s01",
                "ern": 3.0,
                "status": "live",
                "rank": 1,
                "persona": "a calm painter",
                "prompt": "misty lake",
                "said": "hello chat",
            }
        ]
    )
    other = None
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        other = _second_page(browser, url)
        form = "!!document.querySelector('article[data-stream=\"s01\"] .chat form')"
        wait_for(lambda: browser.eval(form) and other.eval(form), 15, "both pages to show s01's chat")
        # What the streamer is doing and the league table are on the page.
        about = browser.eval("document.querySelector('article[data-stream=\"s01\"] .about').textContent")
        assert "a calm painter" in about and "misty lake" in about and "hello chat" in about
        assert browser.eval("document.querySelector('#league tbody tr[data-stream=\"s01\"]').textContent").startswith(
            "1"
        )

        browser.eval("document.getElementById('chat-name').value = 'Ann'")
        sent = time.monotonic()
        _send(browser, "s01", "hi from page one")
        wait_for(lambda: "hi from page one" in _texts(other, "s01"), 2.0, "the message on the other page")
        assert time.monotonic() - sent <= 2.5  # wait_for's last poll may overshoot by its 0.25 s sleep
        assert other.eval("document.querySelector('article[data-stream=\"s01\"] .chat li .who').textContent") == "Ann"

        other.eval("window.alert = () => { window.__alerted = true; }")
        _send(browser, "s01", HOSTILE)
        wait_for(lambda: HOSTILE in _texts(other, "s01"), 2.0, "the HTML-looking message on the other page")
        assert other.eval("document.querySelectorAll('.chat img').length") == 0  # text, never an element
        assert other.eval("typeof window.__alerted") == "undefined"

        # 2 messages sent so far by page one's client; 18 more are fine, the 21st in 10 s is a 429.
        body = json.dumps(json.dumps({"name": "Ann", "text": "again", "viewer": "pageone"}))
        statuses = [_status_of_post(browser, "s01", body) for _ in range(21)]
        assert statuses[:20] == [200] * 20 and statuses[20] == 429
        big = "JSON.stringify({name: 'Ann', text: 'x'.repeat(100000)})"  # built in the page: 100 kB
        assert _status_of_post(other, "s01", big) == 413
        assert b.chat.refused == 1  # the 413 never reached the board
    finally:
        if other is not None:
            other.close()
        b.stop()
