"""A fault-injecting HTTP proxy on loopback, in front of a real registry.

Requests pass through to the backend unchanged (Host header kept, so the registry's upload
Location URLs point back at the proxy) unless a rule matches: then the proxy answers with a
status (and headers, e.g. Retry-After), resets the connection part-way through the body, waits
longer than a client's timeout, echoes the request's credentials in an error (to prove that
they are redacted), ignores `Range` (answers 200 with the whole blob, as some registries do),
lies about the range it sends (a `Content-Range` that does not match the bytes), or sends a
short body (fewer bytes than its `Content-Length`, then a clean close). `down` makes every
request fail with a reset, as a vanished registry would.

It can also be Docker Hub's pull quota (`quota`): every manifest answer carries
`ratelimit-limit: K;w=W`, `ratelimit-remaining: N;w=W` and `docker-ratelimit-source`, each
manifest GET spends one of K pulls (a HEAD none), and once they are spent a manifest GET is
answered 429 with `TOOMANYREQUESTS`, as Docker Hub answers, until `refill` (a new window).

It models a network too: `latency` is added to every request (a round trip), `rate` caps the
throughput of each connection's response bodies in bytes per second (a link that is slow per
connection, as CDNs and long-distance TCP often are), and `shared_rate` caps all connections
together (a link whose bandwidth is the limit, whatever the number of connections). Response
bodies are streamed, so the caps apply while bytes flow; request bodies are read whole first
(so a rule can hold them).
"""

from __future__ import annotations

import base64
import http.client
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox.http_server import QuietHandler

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}
STREAM_CHUNK = 64 * 1024
CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass
class Rule:
    # status | reset | delay | echo_credentials | ignore_range | wrong_range | short_body
    action: str
    method: str | None = None
    path_contains: str = ""
    times: int = 1  # how many matching requests the rule applies to; -1 = forever
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after_bytes: int = 1024
    with_header: str = ""  # match only requests that carry this header (e.g. "Range")

    def matches(self, method: str, path: str, header_names: set[str]) -> bool:
        return ((self.method in {None, method}) and self.path_contains in path
                and self.times != 0
                and (not self.with_header or self.with_header.lower() in header_names))


@dataclass
class PullQuota:
    """Docker Hub's pull quota: `limit` manifest GETs per `window` seconds, counted for `source`."""

    limit: int
    window: int = 21600
    source: str = "127.0.0.1"
    spent: int = 0  # manifest GETs answered (not those refused)
    refused: int = 0  # manifest GETs answered 429

    def headers(self) -> dict[str, str]:
        remaining = max(0, self.limit - self.spent)
        return {"ratelimit-limit": f"{self.limit};w={self.window}",
                "ratelimit-remaining": f"{remaining};w={self.window}",
                "docker-ratelimit-source": self.source}


@dataclass
class FaultProxy:
    backend: str  # host:port
    rules: list[Rule] = field(default_factory=list)
    down: bool = False
    latency: float = 0.0  # added to every request: a model of a real network round trip
    rate: float = 0.0  # bytes per second per connection for response bodies; 0 = unlimited
    shared_rate: float = 0.0  # bytes per second for all connections together; 0 = unlimited
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, action)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range)
    port: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # response body bytes per path
    quota: PullQuota | None = None  # Docker Hub's pull quota, when set
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _link: Pacer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.down = False

    def take(self, method: str, path: str, header_names: set[str]) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, header_names):
                    if rule.times > 0:
                        rule.times -= 1
                    self.hits.append((method, path, rule.action))
                    return rule
        return None

    def link(self) -> Pacer:
        """The pacer every connection shares (for `shared_rate`)."""
        with self._lock:
            if self._link is None or self._link.rate != self.shared_rate:
                self._link = Pacer(self.shared_rate)
            return self._link

    def note(self, method: str, path: str, byte_range: str) -> None:
        with self._lock:
            self.seen.append((method, path, byte_range))

    def count_sent(self, path: str, size: int) -> None:
        with self._lock:
            self.sent[path] += size

    def bytes_sent(self, path_contains: str = "/blobs/") -> int:
        """Response body bytes sent to clients for paths containing `path_contains` (a blob
        digest, say): what the clients fetched through this proxy."""
        with self._lock:
            return sum(size for path, size in self.sent.items() if path_contains in path)

    def pull(self, method: str, path: str) -> tuple[bool, dict[str, str]]:
        """A manifest request under the quota: (whether it is refused with a 429, the quota
        headers of its answer). A GET spends a pull while any is left."""
        with self._lock:
            if self.quota is None or "/manifests/" not in path:
                return False, {}
            if method == "GET":
                if self.quota.spent >= self.quota.limit:
                    self.quota.refused += 1
                    return True, self.quota.headers()
                self.quota.spent += 1
            return False, self.quota.headers()

    def refill(self, limit: int | None = None) -> None:
        """A new quota window: every pull is back (`limit`: a new limit)."""
        with self._lock:
            if self.quota is not None:
                self.quota.spent = self.quota.refused = 0
                if limit is not None:
                    self.quota.limit = limit

    def reset_counts(self) -> None:
        with self._lock:
            self.sent.clear()
            self.seen.clear()
            self.hits.clear()


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close with RST rather than FIN, as a dropped connection looks to the client."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


class Pacer:
    """Keeps the bytes per second of whoever shares it at or below `rate` (no credit is saved
    up while idle, as on a real link)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._free_at = 0.0  # when the link will have sent everything handed to it so far
        self._lock = threading.Lock()

    def wait(self, size: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self._free_at = max(self._free_at, now) + size / self.rate
            ahead = self._free_at - now
        time.sleep(ahead)  # the modelled link itself: it is that slow


def _read_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request body, by Content-Length or decoded from chunked transfer encoding."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in {b"\r\n", b"\n", b""}:
                    pass  # trailers
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else None


def _shifted(content_range: str) -> str:
    """A Content-Range one byte off from the truth: a server that lies about its range."""
    match = CONTENT_RANGE_RE.fullmatch(content_range.strip())
    if not match:
        return "bytes 1-1/*"
    start, end, total = match.groups()
    return f"bytes {int(start) + 1}-{int(end) + 1}/{total}"


@contextmanager
def serve_proxy(proxy: FaultProxy) -> Iterator[FaultProxy]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: with Nagle's algorithm, the body would
        # wait for the client's delayed ACK (40 ms), a stall no real network adds.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            body = _read_body(self)
            proxy.note(self.command, self.path, self.headers.get("Range", ""))
            if proxy.down:
                _reset(self)
                return
            if proxy.latency:
                time.sleep(proxy.latency)
            rule = proxy.take(self.command, self.path, {k.lower() for k in self.headers})
            action = rule.action if rule else ""
            refused, quota_headers = proxy.pull(self.command, self.path)
            if refused:  # Docker Hub's answer once the pulls are spent
                self._answer(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have '
                             b'reached your pull rate limit."}]}', quota_headers)
                return
            if rule and action == "status":
                self._answer(rule.status, b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}',
                             rule.headers)
                return
            if rule and action == "delay":
                time.sleep(rule.delay)  # the fault itself: slower than the client's timeout
            if rule and action == "echo_credentials":
                auth = self.headers.get("Authorization", "")
                secret = base64.b64decode(auth[6:]).decode(errors="replace") if auth.startswith(
                    "Basic ") else auth
                error = f'{{"errors":[{{"code":"DENIED","message":"rejected {secret}"}}]}}'
                self._answer(rule.status, error.encode(), {})
                return
            self._forward(body, rule, quota_headers)

        def _answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        backend: http.client.HTTPConnection | None = None  # kept alive per client connection

        def _open(self, body: bytes | None, drop_range: bool) -> http.client.HTTPResponse:
            try:
                return self._send(body, drop_range)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop_backend()  # the backend closed a kept-alive connection: once more
                return self._send(body, drop_range)

        def _drop_backend(self) -> None:
            if self.backend is not None:
                self.backend.close()
                self.backend = None

        def _send(self, body: bytes | None, drop_range: bool) -> http.client.HTTPResponse:
            if self.backend is None:
                self.backend = http.client.HTTPConnection(proxy.backend, timeout=60)
            connection = self.backend
            # Header by header: skopeo sends several Accept lines, all of which must arrive.
            connection.putrequest(self.command, self.path, skip_host=True,
                                  skip_accept_encoding=True)
            for key, value in self.headers.items():
                lowered = key.lower()
                if lowered in HOP_BY_HOP or lowered == "content-length":
                    continue
                if drop_range and lowered in {"range", "if-range"}:
                    continue
                connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(body or b"")))
            connection.endheaders(body)
            return connection.getresponse()

        def _forward(self, body: bytes | None, rule: Rule | None,
                     extra: dict[str, str]) -> None:
            action = rule.action if rule else ""
            try:
                response = self._open(body, drop_range=action == "ignore_range")
            except OSError:
                self._drop_backend()
                _reset(self)
                return
            try:
                self._relay(response, rule, extra)
            except OSError:
                self.close_connection = True  # the client went away mid-body
            finally:
                if response.isclosed() and not response.will_close:
                    response.close()  # read to its end: the backend connection is reusable
                else:
                    self._drop_backend()

        def _relay(self, response: http.client.HTTPResponse, rule: Rule | None,
                   extra: dict[str, str]) -> None:
            action = rule.action if rule else ""
            self.send_response(response.status)
            for key, value in extra.items():
                self.send_header(key, value)
            for key, value in response.getheaders():
                lowered = key.lower()
                if lowered in HOP_BY_HOP:
                    continue
                lie = lowered == "content-range" and action == "wrong_range"
                self.send_header(key, _shifted(value) if lie else value)
            if response.getheader("Content-Length") is None and self.command != "HEAD":
                self.close_connection = True  # no length: the end of the body is the close
            self.end_headers()
            if self.command == "HEAD":
                response.read()  # nothing to read: this marks the answer finished
                return
            limit = rule.after_bytes if rule and action in {"reset", "short_body"} else None
            pacer = Pacer(proxy.rate)
            link = proxy.link()
            sent = 0
            while limit is None or sent < limit:
                data = response.read(STREAM_CHUNK if limit is None
                                     else min(STREAM_CHUNK, limit - sent))
                if not data:
                    break
                self.wfile.write(data)
                sent += len(data)
                proxy.count_sent(self.path, len(data))
                pacer.wait(len(data))
                link.wait(len(data))
            self.wfile.flush()
            if action == "reset":
                _reset(self)
            elif action == "short_body":
                self.close_connection = True  # a clean close before Content-Length is reached

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    server = _Server(("127.0.0.1", proxy.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.port = server.server_address[1]
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the connection bursts of parallel clients
    # (skopeo opens several at once); a dropped SYN is retried after a second.
    request_queue_size = 128
    daemon_threads = True


@contextmanager
def proxy_process(backend: str, *, latency: float = 0.0, rate: float = 0.0,
                  shared_rate: float = 0.0) -> Iterator[str]:
    """A rule-less proxy (a network model) in a process of its own; yields its host:port.

    Its own interpreter keeps its work off the caller's GIL: a proxy that shares a Python
    process with the clients and other proxies it serves would queue concurrent requests
    behind each other, which no real network does.
    """
    argv = [sys.executable, "-m", "sandbox.fault_proxy", backend, str(latency), str(rate),
            str(shared_rate)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        host = process.stdout.readline().strip()
        if not host:
            raise RuntimeError(f"the proxy for {backend} did not start")
        yield host
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    backend, latency, rate, shared_rate = sys.argv[1:5]
    proxy = FaultProxy(backend, latency=float(latency), rate=float(rate),
                       shared_rate=float(shared_rate))
    with serve_proxy(proxy):
        print(proxy.host, flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
