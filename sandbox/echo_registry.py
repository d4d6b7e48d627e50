"""A registry that quotes the credentials it was sent back in the errors it answers pushes with.

It plays a mirror that refuses every write and, as some registries (and proxies in front of
them) do, echoes what it received in its error: every POST, PUT, PATCH and DELETE under `/v2/`
is answered `status` (403 by default) with a distribution error body (code `DENIED`) whose
message holds the login it was sent, decoded (`user:password`), the raw base64 of it, and the
Bearer token the write carried. Reads answer as an empty registry does: 404 with
`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN` or `NAME_UNKNOWN`.

`scheme="bearer"` challenges for a token, served at its own `/token` realm once it has checked
the login (as Docker Hub's token service does); each token is new and opaque, not a JWT, so
only a client that remembers the tokens it obtained can tell one. `scheme="basic"` asks for
Basic on every request. It listens on loopback over plain http (registries.conf marks it
insecure), records the tokens it issued and the logins it saw, and counts the echoes it sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from sandbox.http_server import QuietHandler

SERVICE = "echo-registry"
NAME_RE = re.compile(r"/v2/(.+?)/(?:manifests|blobs|tags)/")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MARKER = "push refused"  # the part of every echo that is no secret: it must reach the user


@dataclass
class EchoRegistry:
    username: str
    password: str
    scheme: str = "bearer"  # or "basic"
    status: int = 403
    port: int = 0
    tokens: list[str] = field(default_factory=list)  # every token issued, in order
    logins: list[str] = field(default_factory=list)  # every Basic value seen (base64)
    echoes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def checks(self, basic: str) -> bool:
        """Whether `basic` (the base64 of a Basic header) is this registry's login."""
        try:
            decoded = base64.b64decode(basic, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        if decoded != f"{self.username}:{self.password}":
            return False
        with self._lock:
            self.logins.append(basic)
        return True

    def issue_token(self) -> str:
        token = f"echo-token-{secrets.token_hex(16)}"
        with self._lock:
            self.tokens.append(token)
        return token

    def authorized(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if self.scheme == "basic":
            return scheme.lower() == "basic" and self.checks(value)
        with self._lock:
            return scheme.lower() == "bearer" and value in self.tokens

    def challenge(self, path: str, writing: bool) -> str:
        if self.scheme == "basic":
            return f'Basic realm="{SERVICE}"'
        match = NAME_RE.match(path)
        scope = (f',scope="repository:{match.group(1)}:{"pull,push" if writing else "pull"}"'
                 if match else "")
        return f'Bearer realm="http://{self.host}/token",service="{SERVICE}"{scope}'

    def echo(self, authorization: str) -> str:
        """The error message of a refused write: what the write's credentials were."""
        scheme, _, value = authorization.partition(" ")
        token = value if scheme.lower() == "bearer" else ""
        with self._lock:
            self.echoes += 1
            basic = value if scheme.lower() == "basic" else (self.logins[-1] if self.logins else "")
        login = base64.b64decode(basic).decode(errors="replace") if basic else ""
        return f"{MARKER} for {login} (credentials {basic}) with token {token}"


def _read_body(handler: QuietHandler) -> None:
    """Read (and drop) the request body, by Content-Length or chunked transfer encoding."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in {b"\r\n", b"\n", b""}:
                    pass  # trailers
                return
            handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    if length:
        handler.rfile.read(length)


def _error(code: str, message: str) -> dict[str, object]:
    return {"errors": [{"code": code, "message": message}]}


@contextmanager
def serve_echo(registry: EchoRegistry) -> Iterator[EchoRegistry]:
    """Serve `registry` on a free loopback port; always shut down."""

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            _read_body(self)
            path = urlsplit(self.path).path
            if path == "/token":
                self._token()
                return
            authorization = self.headers.get("Authorization", "")
            writing = self.command in WRITES
            if not registry.authorized(authorization):
                self._answer(401, _error("UNAUTHORIZED", "authentication required"),
                             {"WWW-Authenticate": registry.challenge(path, writing)})
            elif writing:
                self._answer(registry.status, _error("DENIED", registry.echo(authorization)))
            elif path.rstrip("/") == "/v2":
                self._answer(200, {})
            elif "/manifests/" in path:
                self._answer(404, _error("MANIFEST_UNKNOWN", "manifest unknown"))
            elif "/blobs/" in path:
                self._answer(404, _error("BLOB_UNKNOWN", "blob unknown"))
            else:
                self._answer(404, _error("NAME_UNKNOWN", "repository name not known"))

        def _token(self) -> None:
            scheme, _, value = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "basic" or not registry.checks(value):
                self._answer(401, {"details": "credentials required"})
                return
            self._answer(200, {"token": registry.issue_token(), "expires_in": 300})

        def _answer(self, status: int, payload: object,
                    headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", registry.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry.port = server.server_address[1]
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
