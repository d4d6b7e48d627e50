"""Upstream blob servers with the behaviours ranged copies must survive, on loopback.

A BlobServer answers `/v2/` and `GET`/`HEAD /v2/<name>/blobs/<digest>` for the blobs it holds,
the way a registry (or its storage) does, in one of these modes:

- `honest`: Range served (206 with the Content-Range asked for), as distribution does;
- `ignore_range`: always 200 with the whole blob (registries that break on Range);
- `refuse_range`: 416 to any Range;
- `wrong_content_range`: a 206 whose Content-Range names another range than the one asked;
- `wrong_bytes`: a 206 with the Content-Range asked for but the bytes of another range.

`short_body` makes any blob answer declare its full length, send half of it and close.

With `storage` set, blob GETs and HEADs are redirected (307) to that other server under
another host name (`localhost` rather than `127.0.0.1`), as ghcr.io redirects to presigned
storage URLs; with `users`, Basic auth is required; `refuse_ranges` makes a storage server
answer 403 to a Range. `rate` caps each connection's throughput
(bytes per second) and `first_byte_delay` holds every blob answer, for measurements and for
keeping a copy running. Every request is recorded with its Range and Authorization headers.

`tags` answers `GET /v2/<name>/tags/list` paged as distribution 3.0 pages it (`n`, `last`, and a
`Link: <…?n=N&last=T>; rel="next"` while tags remain): distribution 2.8, the Debian registry used
elsewhere in the sandbox, ignores `n` and `last` and always answers every tag at once.
`tags_link` replaces the next-page link, to play a registry whose links loop or lead away.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

from sandbox.http_server import QuietHandler

TAGS_PATH_RE = re.compile(r"/v2/(.+)/tags/list\Z")
BLOB_PATH_RE = re.compile(r"/v2/(?:.+/)?blobs/(sha256:[0-9a-f]{64})\Z")
STORAGE_PATH_RE = re.compile(r"/storage/(sha256:[0-9a-f]{64})\Z")
RANGE_RE = re.compile(r"bytes=(\d+)-(\d+)\Z")
MODES = ("honest", "ignore_range", "refuse_range", "wrong_content_range", "wrong_bytes")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    range: str | None
    authorization: str | None


@dataclass
class BlobServer:
    blobs: dict[str, bytes] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tags_link: str | None = None
    mode: str = "honest"
    short_body: bool = False
    storage: BlobServer | None = None
    users: dict[str, str] = field(default_factory=dict)
    rate: float | None = None  # bytes per second per connection
    first_byte_delay: float = 0.0
    hostname: str = "127.0.0.1"
    refuse_ranges: bool = False  # 403 to a Range, as a storage service that breaks on it
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0  # the most blob answers being sent at once
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return f"{self.hostname}:{self.port}"

    def add(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def sending(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def ranged_gets(self) -> int:
        return sum(1 for s in self.seen if s.method == "GET" and s.range)

    def plain_gets(self) -> int:
        return sum(1 for s in self.seen if s.method == "GET" and not s.range)


def _handler(server: BlobServer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, body: bool) -> None:
            server.record(Seen(self.command, self.path, self.headers.get("Range"),
                               self.headers.get("Authorization")))
            if self.path == "/v2/":
                self._status(200)
                return
            if server.users and not self._authorized():
                self._status(401, {"WWW-Authenticate": 'Basic realm="blob-server"'})
                return
            if TAGS_PATH_RE.match(self.path.split("?")[0]):
                self._tags()
                return
            match = BLOB_PATH_RE.match(self.path) or STORAGE_PATH_RE.match(self.path.split("?")[0])
            data = server.blobs.get(match.group(1)) if match else None
            if data is None:
                self._status(404)
                return
            if server.storage is not None:
                location = f"http://{server.storage.host}/storage/{match.group(1)}?sig=x"
                self._status(307, {"Location": location})
                return
            self._blob(data, body)

        def _tags(self) -> None:
            path, _, query = self.path.partition("?")
            asked = parse_qs(query)
            tags = sorted(server.tags)
            if "last" in asked:
                tags = [tag for tag in tags if tag > asked["last"][0]]
            headers = {"Content-Type": "application/json"}
            if "n" in asked and int(asked["n"][0]) < len(tags):
                tags = tags[: int(asked["n"][0])]
                link = f"{path}?{urlencode({'n': asked['n'][0], 'last': tags[-1]})}"
                headers["Link"] = f'<{server.tags_link or link}>; rel="next"'
            name = TAGS_PATH_RE.match(path).group(1)
            self._send(200, json.dumps({"name": name, "tags": tags}).encode(), headers, True)

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return server.users.get(user) == password

        def _status(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _blob(self, data: bytes, body: bool) -> None:
            if server.first_byte_delay:
                time.sleep(server.first_byte_delay)  # the fault: a slow upstream
            asked = RANGE_RE.match(self.headers.get("Range", ""))
            if asked and server.refuse_ranges:
                self._status(403)
                return
            if asked is None or server.mode == "ignore_range":
                self._send(200, data, {}, body)
                return
            if server.mode == "refuse_range":
                self._status(416, {"Content-Range": f"bytes */{len(data)}"})
                return
            start, end = int(asked.group(1)), min(int(asked.group(2)), len(data) - 1)
            shown = (start, end)
            if server.mode == "wrong_content_range":
                shown = (start + 1, end + 1)
            if server.mode == "wrong_bytes":
                start, end = start + 1, end + 1
            self._send(206, data[start:end + 1], {
                "Content-Range": f"bytes {shown[0]}-{shown[1]}/{len(data)}"}, body)

        def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not body:
                return
            if server.short_body:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            server.sending(1)
            try:
                self._write_capped(data)
            finally:
                server.sending(-1)

        def _write_capped(self, data: bytes) -> None:
            started = time.monotonic()
            step = 64 * 1024
            for offset in range(0, len(data), step):
                self.wfile.write(data[offset:offset + step])
                if server.rate:
                    ahead = (offset + step) / server.rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)  # the cap: this connection's throughput

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

    return Handler


@contextmanager
def serve_blobs(server: BlobServer) -> Iterator[BlobServer]:
    """Run `server` on a free loopback port until the block ends."""
    if server.mode not in MODES:
        raise ValueError(f"unknown mode {server.mode!r}")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
