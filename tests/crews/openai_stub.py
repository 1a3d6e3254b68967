"""A local OpenAI-compatible HTTP server for tests of our code: it replays recorded HTTP answers (status and
body) in order, or forwards to a real server and records what it answered (how the fixtures under
`tests/crews/fixtures/llamacpp/` were made, see `test_llamacpp_live.py`). litellm talks to it over real
HTTP, so the request litellm builds and the response parsing are the real ones. Never used outside tests."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "llamacpp"

MODELS_BODY = {"object": "list", "data": [{"id": "smollm2", "object": "model", "owned_by": "me"}]}


@dataclass
class Exchange:
    """One recorded HTTP exchange: what was asked (for the reader) and what the server answered."""

    path: str
    request: dict[str, Any] | None
    status: int
    body: Any

    @classmethod
    def load(cls, name: str) -> Exchange:
        data = json.loads((FIXTURES / f"{name}.json").read_text())
        return cls(data["path"], data.get("request"), int(data["status"]), data["body"])

    def save(self, name: str) -> None:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        data = {"path": self.path, "request": self.request, "status": self.status, "body": self.body}
        (FIXTURES / f"{name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


@dataclass
class StubServer:
    """`answers`: replayed in order for POST requests (the last one repeats when they run out);
    `upstream`: forward instead, recording every exchange in `recorded`."""

    answers: list[Exchange] = field(default_factory=list)
    upstream: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    recorded: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if stub.upstream:
                    status, body = stub._forward("GET", self.path, None)
                    return self._send(status, body)
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, MODELS_BODY)
                return self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.requests.append({"path": self.path, "body": request})
                if stub.upstream:
                    status, body = stub._forward("POST", self.path, request)
                    with stub._lock:
                        stub.recorded.append(Exchange(self.path, request, status, body))
                    return self._send(status, body)
                with stub._lock:
                    ex = stub.answers[min(stub._next, len(stub.answers) - 1)]
                    stub._next += 1
                return self._send(ex.status, ex.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-stub", daemon=True)

    def _forward(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        assert self.upstream is not None
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.upstream.rstrip("/") + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"error": raw.decode(errors="replace")}

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]
