"""The season report in headless Chromium, opened from disk: it loads with no console error, every image
decodes, the title and the league table are there. A screenshot is kept in the test's tmp folder."""

from __future__ import annotations

import base64

from tests.chromium import browser, wait_for  # noqa: F401 - the fixture

ERRORS = ("Runtime.exceptionThrown",)


def test_report_opens_from_disk_without_errors(report, browser, tmp_path):  # noqa: F811
    events: list[dict] = []
    receive = browser._recv_message

    def recording() -> dict:  # keep the DevTools events the call loop would drop
        msg = receive()
        if "method" in msg:
            events.append(msg)
        return msg

    browser._recv_message = recording
    for domain in ("Page", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=report.path.resolve().as_uri())
    wait_for(lambda: browser.eval("document.readyState") == "complete", 20, "the report to load")
    assert browser.eval("document.title") == "Totoroid Arena season report: rep"
    images = browser.eval("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(images) >= 10 and all(done and width > 0 for done, width in images), images
    rows = browser.eval("document.querySelectorAll('#league-final tbody tr').length")
    assert rows == 3
    assert browser.eval("document.querySelector('#league-final').getBoundingClientRect().height") > 0
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    (tmp_path / "report.png").write_bytes(base64.b64decode(shot["data"]))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    errors = [
        e
        for e in events
        if e["method"] in ERRORS
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
    ]
    assert errors == []
