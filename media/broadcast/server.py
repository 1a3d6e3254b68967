"""The HTTP side: rolling HLS files, a JSON list of streams and a watch page, served from one small server.

Why the stdlib server with this much checking: it serves files from the run folder, so every path is parsed
into a fixed route (page, static file, stream file, API) and each file name must match a strict pattern and
resolve inside its folder (no traversal, encoded or not; no symlink escapes; no listings). Connections are
capped by a semaphore (503 beyond) and idle sockets time out, so a slow or hostile client cannot exhaust
threads. Debian's `mimetypes` maps `.ts` to a Qt/TypeScript type, so content types come from a fixed table.
The `viewer` query id is untrusted input that keys the viewer table, so a malformed one is a 400; every stream
file served is reported to the Site, whose counter decides what is evidence of playback.

Chat (media.broadcast.chat) is the one thing a client may write: `POST /api/chat/<stream>` with a JSON body
only (`application/json`, at most MAX_CHAT_BODY bytes: 413 beyond, 411 without a length), from the page's own
origin when the browser says where it comes from (an `Origin` or `Sec-Fetch-Site` naming another site is a
403: no other site can post in a viewer's name), rate-limited per client (429); `GET /api/chat?after=N` polls.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import socket
import socketserver
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from media.broadcast.chat import ChatBoard, ChatRejected
from media.broadcast.config import STREAM_ID_RE
from media.broadcast.viewers import VIEWER_ID_RE

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STREAM_FILE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.(m3u8|ts|vtt|png)$")  # playlists, segments, captions, avatar
STATIC_FILE_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt; charset=utf-8",
    ".png": "image/png",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; "
    "connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
IDLE_TIMEOUT = 10.0  # seconds a connection may sit idle (keep-alive) or dribble a request
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MAX_CHAT_BODY = 2048  # bytes; a message is at most 280 characters, a name 32: anything bigger is not chat


class Site(Protocol):
    """What the server needs from the Broadcaster."""

    chat: ChatBoard

    def stream_folder(self, stream_id: str) -> Path | None: ...
    def api_streams(self) -> list[dict]: ...
    def record_view(
        self, stream_id: str, file_name: str, address: str, user_agent: str, viewer: str | None
    ) -> None: ...


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, why: str):
        super().__init__(why)
        self.status = status


def _route(raw_path: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split a request target into decoded path segments and query; reject anything ambiguous with a 4xx."""
    if not raw_path.startswith("/") or raw_path.startswith("//"):
        raise _BadRequest(HTTPStatus.BAD_REQUEST, "request target must be an absolute path")
    parts = urlsplit(raw_path)
    try:
        path = unquote(parts.path, errors="strict")
        query = parse_qs(parts.query, max_num_fields=8, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadRequest(HTTPStatus.BAD_REQUEST, f"undecodable request target: {exc}") from None
    if any(c in path for c in "\\\x00") or any(ord(c) < 32 for c in path):
        raise _BadRequest(HTTPStatus.BAD_REQUEST, "forbidden character in path")
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments) or posixpath.isabs(path[1:]):
        raise _BadRequest(HTTPStatus.BAD_REQUEST, "path traversal")
    return segments, query


def _viewer_id(query: dict[str, list[str]]) -> str | None:
    """The page's `viewer` id, or None; it is untrusted (it keys the viewer table), so anything odd is a 400."""
    values = query.get("viewer")
    if not values:
        return None
    if len(values) != 1 or not VIEWER_ID_RE.match(values[0]):
        raise _BadRequest(HTTPStatus.BAD_REQUEST, "viewer: expected one id of 1-64 letters, digits, '_' or '-'")
    return values[0]


def _inside(path: Path, folder: Path) -> Path | None:
    """The real path of `path` if it is a regular file inside `folder` (after resolving symlinks)."""
    try:
        real = path.resolve(strict=True)
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


class Handler(BaseHTTPRequestHandler):
    server_version = "TotoroidArena"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # errors before the version is parsed still get a status line
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle + delayed ACK stall keep-alive clients
    server: BroadcastHTTPServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        log.debug("http %s " + format, self.client_address[0], *args)

    def parse_request(self) -> bool:
        # Only "METHOD target HTTP/x.y": the stdlib would also take HTTP/0.9 one- and two-word lines and answer
        # them without a status line. Anything else is a 400 with a proper HTTP/1.0 status line.
        words = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n").split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.requestline = str(self.raw_requestline[:200], "iso-8859-1").rstrip("\r\n")
            self.request_version = "HTTP/1.0"
            self.command = None
            self.send_error(HTTPStatus.BAD_REQUEST, "malformed request line")
            return False
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib answers unknown methods with 501 and odd versions with 505; here both are client errors.
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, "only GET, HEAD and POST (chat) are served"
        elif code == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED:  # "HTTP/9.9" is a malformed request line here
            code, message = HTTPStatus.BAD_REQUEST, "unsupported HTTP version"
        self.close_connection = True
        super().send_error(code, message, explain)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_POST(self) -> None:
        try:
            segments, _ = _route(self.path)
            if len(segments) != 3 or segments[:2] != ["api", "chat"]:
                raise _BadRequest(HTTPStatus.NOT_FOUND, "only /api/chat/<stream> takes a POST")
            body = self._json_body()
            msg = self._post_chat(segments[2], body)
        except _BadRequest as exc:
            self.send_error(exc.status, str(exc))
            return
        except ChatRejected as exc:
            self.send_error(exc.status, str(exc))
            return
        self._send(json.dumps(msg.to_dict()).encode(), "application/json", False, {"Cache-Control": "no-store"})

    def _json_body(self) -> dict:
        """The request's JSON object: only from this page's origin, only JSON, only small (4xx otherwise).
        Checked before the body is read, so a big or foreign body is refused without reading it."""
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if self.server.loopback and urlsplit(f"//{host}").hostname not in LOOPBACK_NAMES:
            # DNS rebinding: a foreign site's name resolved to 127.0.0.1 sends its own name as Host and Origin
            raise _BadRequest(HTTPStatus.FORBIDDEN, "chat on a loopback page takes a loopback Host only")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            raise _BadRequest(HTTPStatus.FORBIDDEN, "cross-origin chat is refused")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise _BadRequest(HTTPStatus.FORBIDDEN, "cross-site chat is refused")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "chat takes a JSON body (application/json)")
        if self.headers.get("Transfer-Encoding"):
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "Content-Length required") from None
        if length < 0:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "negative Content-Length")
        if length > MAX_CHAT_BODY:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"chat body over {MAX_CHAT_BODY} bytes")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "body must be a JSON object {name, text, viewer}")
        return body

    def _post_chat(self, stream_id: str, body: dict):
        unknown = set(body) - {"name", "text", "viewer"}
        if unknown:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"unknown field {sorted(unknown)[0]!r}; send name, text, viewer")
        viewer = body.get("viewer")
        if viewer is not None and (not isinstance(viewer, str) or not VIEWER_ID_RE.match(viewer)):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "viewer: expected one id of 1-64 letters, digits, '_' or '-'")
        if not STREAM_ID_RE.match(stream_id):
            raise _BadRequest(HTTPStatus.NOT_FOUND, "no such stream")
        return self.server.site.chat.post(
            stream_id,
            body.get("name"),
            body.get("text"),
            source="web",
            client=viewer,
            address=self.client_address[0],
        )

    # ------------------------------------------------------------------ routing
    def _serve(self, head: bool) -> None:
        try:
            segments, query = _route(self.path)
        except _BadRequest as exc:
            self.send_error(exc.status, str(exc))
            return
        site = self.server.site
        if segments in ([""], ["index.html"]):
            self._send_file(STATIC_DIR / "index.html", STATIC_DIR, head, {"Content-Security-Policy": PAGE_CSP})
        elif segments == ["api", "streams"]:
            body = json.dumps(site.api_streams()).encode()
            self._send(
                body, "application/json", head, {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
            )
        elif segments == ["api", "chat"]:
            try:
                after = int(query.get("after", ["0"])[0])
            except ValueError:
                self.send_error(HTTPStatus.BAD_REQUEST, "after: expected a message id")
                return
            body = json.dumps([m.to_dict() for m in site.chat.since(after)]).encode()
            self._send(body, "application/json", head, {"Cache-Control": "no-store"})
        elif len(segments) == 2 and segments[0] == "static" and STATIC_FILE_RE.match(segments[1]):
            self._send_file(STATIC_DIR / segments[1], STATIC_DIR, head, {"Cache-Control": "max-age=3600"})
        elif (
            len(segments) == 3
            and segments[0] == "streams"
            and STREAM_ID_RE.match(segments[1])
            and STREAM_FILE_RE.match(segments[2])
        ):
            self._serve_stream_file(segments[1], segments[2], query, head)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _serve_stream_file(self, stream_id: str, name: str, query: dict[str, list[str]], head: bool) -> None:
        """A playlist or segment; a served file is reported to the viewer counter (which judges the evidence)."""
        try:
            viewer = _viewer_id(query)
        except _BadRequest as exc:
            self.send_error(exc.status, str(exc))
            return
        site = self.server.site
        folder = site.stream_folder(stream_id)
        if folder is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        cache = "no-cache" if name.endswith((".m3u8", ".vtt")) else "max-age=60"
        found = self._read_file(folder / name, folder)
        if found is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        if not head:  # a HEAD request plays nothing; recorded before the send, so a reply means it was counted
            site.record_view(stream_id, name, self.client_address[0], self.headers.get("User-Agent", ""), viewer)
        self._send(*found, head, {"Cache-Control": cache, "Access-Control-Allow-Origin": "*"})

    @staticmethod
    def _read_file(path: Path, folder: Path) -> tuple[bytes, str] | None:
        """Body and content type of a servable file inside `folder`, or None (a 404)."""
        real = _inside(path, folder)
        ctype = CONTENT_TYPES.get(path.suffix) if real is not None else None
        if real is None or ctype is None:
            return None
        try:
            return real.read_bytes(), ctype  # segments are small; a whole read avoids serving a file deleted mid-way
        except OSError:  # deleted behind the window between the check and the read
            return None

    def _send_file(self, path: Path, folder: Path, head: bool, headers: dict[str, str]) -> None:
        found = self._read_file(path, folder)
        if found is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self._send(*found, head, headers)

    def _send(self, body: bytes, ctype: str, head: bool, headers: dict[str, str]) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)


class BroadcastHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a connection cap (503 beyond) and no reverse DNS lookup at bind time."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], site: Site, max_connections: int):
        self.site = site
        self.loopback = address[0] in ("127.0.0.1", "::1", "localhost")  # only loopback Hosts may post chat
        self._slots = threading.BoundedSemaphore(max_connections)
        self.rejected = 0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can hang on a machine without network.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.rejected += 1
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Retry-After: 1\r\nConnection: close\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
