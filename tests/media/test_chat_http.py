"""The chat endpoint over raw HTTP: every malformed or foreign request gets one clear 4xx, and the board keeps
names and texts as plain text, rate-limits per client and per address, and hands each message to the arena once."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from media.broadcast import BroadcastConfig, Broadcaster
from media.broadcast.chat import ChatBoard, ChatRejected, parse_style


@pytest.fixture
def site(tmp_path: Path):
    b = Broadcaster(BroadcastConfig(enabled=True, port=0), tmp_path / "run")
    b.start()
    b.add_stream("s01", "Nora")
    b.chat.set_streams({"s01"})
    yield b
    b.stop()


def _post(b: Broadcaster, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
    h = {"Content-Type": "application/json", **(headers or {})}
    conn.request("POST", path, body=body, headers=h)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def _ok(text: str = "hi", **extra) -> bytes:
    return json.dumps({"name": "Ann", "text": text, **extra}).encode()


def test_a_good_message_is_stored_as_text_and_polled(site: Broadcaster):
    status, body = _post(
        site, "/api/chat/s01", _ok("<b>hi</b>\x00\nthere"), {"Origin": f"http://127.0.0.1:{site.port}"}
    )
    assert status == 200, body
    msg = json.loads(body)
    assert msg["text"] == "<b>hi</b> there" and msg["kind"] == "chat" and msg["source"] == "web"
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=5)
    conn.request("GET", "/api/chat?after=0")
    polled = json.loads(conn.getresponse().read())
    assert [m["text"] for m in polled] == ["<b>hi</b> there"]
    assert [m.text for m in site.chat.drain()] == ["<b>hi</b> there"] and site.chat.drain() == []


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/api/chat/s01", _ok(), {"Origin": "http://evil.example"}, 403),
        ("/api/chat/s01", _ok(), {"Sec-Fetch-Site": "cross-site"}, 403),
        ("/api/chat/s01", _ok(), {"Host": "rebound.example", "Origin": "http://rebound.example"}, 403),
        ("/api/chat/s01", b"name=a&text=b", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("/api/chat/s01", b"{not json", {}, 400),
        ("/api/chat/s01", b"[1, 2]", {}, 400),
        ("/api/chat/s01", _ok(extra=1), {}, 400),
        ("/api/chat/s01", json.dumps({"name": 5, "text": "x"}).encode(), {}, 400),
        ("/api/chat/s01", _ok("   \x07 "), {}, 400),
        ("/api/chat/s01", _ok(viewer="../x"), {}, 400),
        ("/api/chat/s02", _ok(), {}, 404),
        ("/api/chat/..", _ok(), {}, 400),
        ("/api/streams", _ok(), {}, 404),
        ("/api/chat/s01", b"x" * 3000, {}, 413),
    ],
)
def test_malformed_or_foreign_posts_get_a_clear_4xx(site, path, body, headers, status):
    got, text = _post(site, path, body, headers)
    assert got == status, text
    assert site.chat.drain() == []


def test_board_rules():
    board = ChatBoard(per_client=2, per_address=3, window_seconds=60)
    board.post("s01", "a", "one", client="p1", address="1.2.3.4")
    board.post("s01", "a", "two", client="p1", address="1.2.3.4")
    with pytest.raises(ChatRejected) as exc:
        board.post("s01", "a", "three", client="p1", address="1.2.3.4")
    assert exc.value.status == 429
    board.post("s01", "a", "new page id", client="p2", address="1.2.3.4")
    with pytest.raises(ChatRejected):  # rotating page ids does not lift the address's limit
        board.post("s01", "a", "again", client="p3", address="1.2.3.4")
    req = board.post("s01", None, "!style  foggy harbour at dawn", source="sim")
    assert (req.kind, req.text, req.request_id, req.name) == (
        "style_request",
        "foggy harbour at dawn",
        req.id,
        "viewer",
    )
    assert parse_style("!stylish") is None and parse_style("!STYLE x") == "x"
    with pytest.raises(ChatRejected):
        board.post("s01", "a", "!style")
