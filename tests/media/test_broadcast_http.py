"""The broadcast HTTP server: routes, content types, path safety, malformed requests, connection cap, viewers.

Viewer tests make requests from 127.0.0.1 and 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo) and give each
test a fresh counter, since the per-address bound would otherwise carry over between tests."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time

import numpy as np
import pytest

from media.broadcast import BroadcastConfig, Broadcaster
from media.broadcast.viewers import ViewerCounter


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    secret = tmp_path_factory.mktemp("outside") / "secret.ts"
    secret.write_text("SECRET")
    b = Broadcaster(BroadcastConfig(port=0, fps=8, segment_seconds=0.5, window_segments=4, max_connections=4), run)
    url = b.start()
    b.add_stream("s01", "Alpha")
    for i in range(12):  # ~1.5 s: enough for a few segments
        f = np.full((32, 32, 3), i * 20 % 256, np.uint8)
        b.on_frame("s01", f)
        time.sleep(1 / 8)
    folder = run / "streams" / "s01"
    deadline = time.monotonic() + 10
    while not (folder / "index.m3u8").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.symlink(secret, folder / "evil.ts")
    os.symlink(secret.parent, folder / "dir")
    (folder / "notes.txt").write_text("not a stream file")
    yield {"b": b, "port": b.port, "url": url, "folder": folder}
    b.stop()


def raw(port: int, data: bytes, timeout: float = 5.0, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """Send bytes as-is (no client-side normalisation of the path) and parse the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                headers = dict(ln.split(": ", 1) for ln in head.decode("latin-1").split("\r\n")[1:] if ": " in ln)
                if len(body) >= int(headers.get("Content-Length", "0")):
                    break
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(ln.split(": ", 1) for ln in lines[1:] if ": " in ln)
    return status, headers, body


def get(port: int, target: str, headers: str = "", source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
    return raw(port, request.encode("latin-1"), source=source)


def test_routes_and_content_types(site):
    port = site["port"]
    status, h, body = get(port, "/")
    assert status == 200 and h["Content-Type"].startswith("text/html") and b"hls.min.js" in body
    assert "script-src 'self'" in h["Content-Security-Policy"]
    status, h, body = get(port, "/static/hls.min.js")
    assert status == 200 and h["Content-Type"].startswith("text/javascript") and len(body) > 100_000
    status, h, body = get(port, "/streams/s01/index.m3u8")
    assert status == 200 and h["Content-Type"] == "application/vnd.apple.mpegurl" and body.startswith(b"#EXTM3U")
    seg = next(ln for ln in body.decode().splitlines() if ln.endswith(".ts"))
    status, h, body = get(port, f"/streams/s01/{seg}")
    assert status == 200 and h["Content-Type"] == "video/mp2t" and body[:1] == b"\x47"  # TS sync byte
    status, h, body = get(port, "/api/streams")
    assert status == 200 and h["Content-Type"] == "application/json"
    rows = json.loads(body)
    assert rows[0]["id"] == "s01" and rows[0]["name"] == "Alpha" and rows[0]["status"] == "live"
    status, h, body = raw(port, b"HEAD /streams/s01/index.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and int(h["Content-Length"]) > 0


@pytest.mark.parametrize(
    "target",
    [
        "/streams/s01/../../../../etc/passwd",
        "/streams/s01/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/streams/s01/%2E%2E%2F%2E%2E%2Fsecret.ts",
        "/static/..%2fserver.py",
        "/static/%2e%2e/server.py",
        "/static/..",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "http://127.0.0.1/etc/passwd",
        "/streams/s01/%00index.m3u8",
        "/streams/s01/%ff.ts",
        "/streams/s01\\..\\..\\x",
        "*",
    ],
)
def test_traversal_is_a_client_error(site, target):
    status, _, body = get(site["port"], target)
    assert 400 <= status < 500, (target, status)
    assert b"SECRET" not in body and b"root:" not in body


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "/streams/s01/evil.ts",  # symlink to a file outside the run folder
        "/streams/s01/dir/secret.ts",  # through a symlinked folder
        "/streams/s01/notes.txt",  # not an HLS file name
        "/streams/s01/",  # no directory listing
        "/streams/",
        "/static/",
        "/static/.hidden",
        "/streams/nope/index.m3u8",  # not a broadcast stream
        "/streams/s01/index.m3u8.tmp",
    ],
)
def test_unservable_paths_are_404(site, target):
    status, _, body = get(site["port"], target)
    assert status == 404, (target, status)
    assert b"SECRET" not in body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /\r\n\r\n",  # HTTP/0.9
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"POST /api/streams HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"BREW / HTTP/1.1\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",  # request line too long
        b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n",  # huge header
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n",  # too many headers
    ],
)
def test_malformed_requests_get_4xx(site, request_bytes):
    status, _, _ = raw(site["port"], request_bytes)
    assert 400 <= status < 500, (request_bytes[:40], status)


def test_connections_beyond_the_cap_get_503_and_slots_come_back(site):
    port = site["port"]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]  # max_connections = 4
    try:
        time.sleep(0.3)
        status, h, _ = get(port, "/api/streams")
        assert status == 503
        assert site["b"].stats()["http_rejected"] >= 1
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    while get(port, "/api/streams")[0] != 200:
        assert time.monotonic() < deadline, "connection slots were not released"
        time.sleep(0.1)


@pytest.fixture
def counter(site) -> ViewerCounter:
    """A fresh viewer counter for the shared broadcaster, so each test starts with no tracked ids."""
    c = site["b"].config
    site["b"].viewers = ViewerCounter(
        c.viewer_window_seconds, c.viewers_per_address, c.streams_per_address, c.viewer_table_size
    )
    return site["b"].viewers


def newest_segments(port: int, n: int = 2) -> list[str]:
    """The last `n` segment names of s01's playlist, oldest first (they stay on disk for the whole window)."""
    status, _, body = get(port, "/streams/s01/index.m3u8")
    assert status == 200
    return [ln for ln in body.decode().splitlines() if ln.endswith(".ts")][-n:]


def play(port: int, viewer: str, source: str = "127.0.0.1") -> None:
    """What a player does: the playlist, then successive segments."""
    for seg in newest_segments(port):
        assert get(port, f"/streams/s01/{seg}?viewer={viewer}", source=source)[0] == 200


def test_one_client_looping_over_1000_ids_counts_at_most_the_bound(site, counter):
    port, b = site["port"], site["b"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # keep-alive: 2,000 requests on one socket
    try:
        segs = newest_segments(port)
        for i in range(1000):
            if i % 100 == 0:
                segs = newest_segments(port)
            for seg in segs:
                conn.request("GET", f"/streams/s01/{seg}?viewer=bot-{i}")
                conn.getresponse().read()
    finally:
        conn.close()
    assert b.config.viewers_per_address == 1
    assert b.real_viewers()["s01"] <= 1 and counter.tracked() <= 1
    assert counter.ignored >= 999  # every id beyond the first (one more if the first outlived the window)


def test_playlist_polls_and_a_repeated_segment_count_0(site, counter):
    port, b = site["port"], site["b"]
    for _ in range(5):
        for v in ("poller", "other"):
            assert get(port, f"/streams/s01/index.m3u8?viewer={v}")[0] == 200
    assert b.real_viewers()["s01"] == 0
    seg = newest_segments(port, 1)[0]
    for _ in range(5):
        assert get(port, f"/streams/s01/{seg}?viewer=stuck")[0] == 200
    assert b.real_viewers()["s01"] == 0


def test_successive_segments_count_1_and_drop_out_after_the_window(site, counter):
    port, b = site["port"], site["b"]
    play(port, "page-a")
    assert b.real_viewers()["s01"] == 1
    get(port, "/streams/s01/nope.ts?viewer=page-c")  # a 404 is not a view
    get(port, "/api/streams?viewer=page-d")  # neither is the API
    assert b.real_viewers()["s01"] == 1
    later = time.monotonic() + b.config.viewer_window_seconds + 0.1  # a fake clock: no fetch since
    assert counter.counts(["s01"], now=later) == {"s01": 0}
    assert counter.tracked() == 0


def test_two_addresses_count_2_and_a_player_without_an_id_counts_by_address(site, counter):
    port, b = site["port"], site["b"]
    play(port, "page-a", source="127.0.0.1")
    play(port, "page-b", source="127.0.0.2")
    assert b.real_viewers()["s01"] == 2
    for seg in newest_segments(port):  # ffplay on 127.0.0.1, whose one slot page-a holds
        get(port, f"/streams/s01/{seg}", "User-Agent: ffplay\r\n")
    assert b.real_viewers()["s01"] == 2


def test_head_requests_are_no_evidence(site, counter):
    port, b = site["port"], site["b"]
    for seg in newest_segments(port):
        request = f"HEAD /streams/s01/{seg}?viewer=h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert raw(port, request.encode())[0] == 200
    assert b.real_viewers()["s01"] == 0 and counter.tracked() == 0


@pytest.mark.parametrize(
    "query",
    [
        "viewer=%3Cscript%3E",
        "viewer=" + "a" * 65,
        "viewer=a%20b",
        "viewer=%C3%BC",
        "viewer=a.b",
        "viewer=a&viewer=b",
    ],
)
def test_malformed_viewer_ids_get_400(site, counter, query):
    status, _, body = get(site["port"], f"/streams/s01/index.m3u8?{query}")
    assert status == 400 and b"viewer: expected one id of 1-64 letters" in body
    assert counter.tracked() == 0


def test_status_rows_are_cleaned_sorted_and_relegation_is_shown(tmp_path):
    b = Broadcaster(BroadcastConfig(port=0), tmp_path)
    b.add_stream("s01", "one")
    b.add_stream("s02", "two")
    b.update_status(
        [
            {"id": "s01", "name": "Evil\x1b[2J\u202eName" + "x" * 500, "ern": 3.456, "status": "live", "rank": 2},
            {"id": "s02", "name": "Top", "ern": 9, "status": "live", "rank": 1},
            {"id": "../bad", "name": "ignored"},
        ]
    )
    rows = b.api_streams()
    assert [r["id"] for r in rows] == ["s02", "s01"]
    assert rows[1]["name"].startswith("Evil") and "\x1b" not in rows[1]["name"] and "\u202e" not in rows[1]["name"]
    assert len(rows[1]["name"]) <= 80 and rows[1]["ern"] == 3.46
    b.end_stream("s02")
    rows = b.api_streams()
    assert [r["id"] for r in rows] == ["s01", "s02"] and rows[1]["status"] == "relegated"
    b.stop()
