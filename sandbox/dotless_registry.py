"""A registry that refuses '.' in repository path components, as some registries may (GHCR's
answer is not confirmed), for the doctor's push check. It serves blob uploads only.

`GET /v2/` answers 200. `POST /v2/<name>/blobs/uploads/` answers 400 with distribution's
`NAME_INVALID` error when a path component of <name> holds a '.', else 202 with a Location;
`DELETE` on that Location cancels the upload (204). `open_uploads` holds every upload opened and
not cancelled, so a test can see that nothing was left behind; `seen` records every request.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sandbox.http_server import QuietHandler, serving

START_RE = re.compile(r"/v2/(?P<name>.+)/blobs/uploads/\Z")
UPLOAD_RE = re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<id>[0-9a-f-]{36})\Z")


@dataclass
class DotlessRegistry:
    open_uploads: dict[str, str] = field(default_factory=dict)  # id -> repository name
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self._route(method, path.partition("?")[0])
        with self._lock:
            self.seen.append((method, path, status))
        return status, headers, body

    def _route(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if (method, path) == ("GET", "/v2/"):
            return 200, {}, b"{}"
        start, upload = START_RE.match(path), UPLOAD_RE.match(path)
        if method == "POST" and start:
            name = start["name"]
            if any("." in component for component in name.split("/")):
                return 400, {}, _error("NAME_INVALID", "invalid repository name", name)
            upload_id = str(uuid.uuid4())
            with self._lock:
                self.open_uploads[upload_id] = name
            return 202, {"Location": f"/v2/{name}/blobs/uploads/{upload_id}",
                         "Docker-Upload-UUID": upload_id, "Range": "0-0"}, b""
        if method == "DELETE" and upload:
            with self._lock:
                found = self.open_uploads.pop(upload["id"], None)
            if found is not None:
                return 204, {}, b""
            return 404, {}, _error("BLOB_UPLOAD_UNKNOWN", "blob upload unknown", upload["id"])
        return 404, {}, _error("UNSUPPORTED", "not served here", path)


def _error(code: str, message: str, detail: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message,
                                   "detail": {"name": detail}}]}).encode()


@contextmanager
def serve_dotless(registry: DotlessRegistry) -> Iterator[DotlessRegistry]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = registry.answer(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    with serving(Handler) as port:
        registry.port = port
        yield registry
