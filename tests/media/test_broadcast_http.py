"""The broadcast HTTP server: routes, content types, path safety, malformed requests, connection cap, viewers."""

from __future__ import annotations

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


def raw(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as-is (no client-side normalisation of the path) and parse the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
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


def get(port: int, target: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    return raw(port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode("latin-1"))


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


def test_real_viewers_are_distinct_recent_clients(site):
    port, b = site["port"], site["b"]
    before = b.real_viewers()["s01"]
    get(port, "/streams/s01/index.m3u8?viewer=page-a")
    get(port, "/streams/s01/index.m3u8?viewer=page-a")  # same page again: still one
    get(port, "/streams/s01/index.m3u8?viewer=page-b")
    get(port, "/streams/s01/index.m3u8", "User-Agent: ffplay\r\n")
    get(port, "/streams/s01/index.m3u8", "User-Agent: ffplay\r\n")
    get(port, "/streams/s01/nope.ts?viewer=page-c")  # a 404 is not a view
    get(port, "/api/streams?viewer=page-d")  # neither is the API
    assert b.real_viewers()["s01"] - before == 3


def test_viewer_counter_window_and_bad_ids():
    vc = ViewerCounter(window_seconds=6.0)
    assert vc.client_key("1.2.3.4", "UA", "ok_id-1") == "v:ok_id-1"
    assert vc.client_key("1.2.3.4", "UA", "<script>") == "a:1.2.3.4|UA"
    vc.record("s", "v:a", now=100.0)
    vc.record("s", "v:b", now=103.0)
    assert vc.counts(["s", "t"], now=104.0) == {"s": 2, "t": 0}
    assert vc.counts(["s"], now=107.0) == {"s": 1}  # a left the window
    assert vc.counts(["s"], now=110.0) == {"s": 0}


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
