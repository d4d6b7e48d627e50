"""A registry with the OCI 1.1 referrers API: a proxy on loopback in front of a real distribution
registry (2.8 has no such API), adding what a registry that keeps the API does.

Every request passes through to the backend (Host kept, so upload locations point back here).
What it adds:
- a manifest PUT that the backend accepts and whose body has a `subject` is remembered, and the
  answer carries `OCI-Subject: <subject digest>`, as the distribution spec asks of a registry
  that keeps the referrers API itself;
- `GET /v2/<name>/referrers/<digest>` answers an OCI index of the descriptors of the manifests
  pushed with that subject (each with its `artifactType` and annotations), `?artifactType=`
  filtering (and `OCI-Filters-Applied` saying so), `page_size` descriptors a page and a `Link`
  header to the next; an unknown subject gets an empty index, never a 404.
`extra` adds descriptors to a subject's listing that no PUT made (a hostile upstream listing
10,000 referrers, or ones that point at nothing); `subject_header` False plays a registry that
lists referrers but does not say so on a PUT; `link_to` sends the next page elsewhere.
`requests` records (method, path, status).
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from sandbox.http_server import QuietHandler

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class ReferrersRegistry:
    backend: str  # host:port of the real registry
    page_size: int = 100
    subject_header: bool = True
    link_to: str | None = None  # a hostile `Link`: the next page at this path instead
    port: int = 0
    # (repository, subject digest) -> descriptors, in the order their manifests were pushed
    referrers: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    extra: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pushed(self, repository: str, digest: str, media_type: str, body: bytes) -> str | None:
        """Remember a manifest put with a subject; its subject's digest, or None."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        subject = data.get("subject") if isinstance(data, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return None
        descriptor = {"mediaType": data.get("mediaType") or media_type, "digest": digest,
                      "size": len(body)}
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        artifact_type = data.get("artifactType") or config.get("mediaType")
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if isinstance(data.get("annotations"), dict) and data["annotations"]:
            descriptor["annotations"] = data["annotations"]
        with self._lock:
            listed = self.referrers.setdefault((repository, subject["digest"]), [])
            if all(entry["digest"] != digest for entry in listed):
                listed.append(descriptor)
        return subject["digest"]

    def listing(self, repository: str, subject: str) -> list[dict]:
        with self._lock:
            return [*self.referrers.get((repository, subject), []),
                    *self.extra.get((repository, subject), [])]

    def count(self, method: str, path_contains: str) -> int:
        with self._lock:
            return sum(1 for m, path, _ in self.requests if m == method and path_contains in path)

    def note(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))


def _split(path: str) -> tuple[str, str, str] | None:
    """`/v2/<name>/<kind>/<reference>` -> (name, kind, reference)."""
    bare = urllib.parse.urlsplit(path).path
    for kind in ("referrers", "manifests"):
        marker = f"/{kind}/"
        if bare.startswith("/v2/") and marker in bare:
            name, _, reference = bare[4:].rpartition(marker)
            return name, kind, reference
    return None


@contextmanager
def serve_referrers(registry: ReferrersRegistry) -> Iterator[ReferrersRegistry]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self._body()
            parts = _split(self.path)
            if parts and parts[1] == "referrers" and self.command == "GET":
                self._referrers(parts[0], parts[2])
                return
            status, headers, data = self._forward(body)
            if parts and parts[1] == "manifests" and self.command == "PUT" and status == 201:
                digest = headers.get("Docker-Content-Digest", "")
                subject = registry.pushed(parts[0], digest, self.headers.get("Content-Type", ""),
                                          body)
                if subject and registry.subject_header:
                    headers["OCI-Subject"] = subject
            self._answer(status, headers, data)

        def _body(self) -> bytes:
            """The request body, by Content-Length or from chunked transfer encoding."""
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                pass  # trailers
            return b"".join(parts)

        def _referrers(self, name: str, subject: str) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            listed = registry.listing(name, subject)
            headers = {"Content-Type": OCI_INDEX}
            wanted = query.get("artifactType", [None])[0]
            if wanted is not None:
                listed = [entry for entry in listed if entry.get("artifactType") == wanted]
                headers["OCI-Filters-Applied"] = "artifactType"
            start = int(query.get("page", ["0"])[0])
            page = listed[start : start + registry.page_size]
            if start + registry.page_size < len(listed):
                following = {"page": str(start + registry.page_size)}
                if wanted is not None:
                    following["artifactType"] = wanted
                path = registry.link_to or f"/v2/{name}/referrers/{subject}"
                headers["Link"] = f'<{path}?{urllib.parse.urlencode(following)}>; rel="next"'
            data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                               "manifests": page}).encode()
            self._answer(200, headers, data)

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(registry.backend, timeout=60)
            try:
                connection.putrequest(self.command, self.path, skip_host=True,
                                      skip_accept_encoding=True)
                for key, value in self.headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        connection.putheader(key, value)
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                data = response.read()
                headers = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                if self.command != "HEAD":  # a HEAD keeps the length of what a GET would send
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
                return response.status, headers, data
            finally:
                connection.close()

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            registry.note(self.command, self.path, status)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if not any(key.lower() == "content-length" for key in headers):
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", registry.port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    registry.port = server.server_address[1]
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
