"""A fault-injecting HTTP proxy on loopback, in front of a real registry.

Requests pass through to the backend unchanged (Host header kept, so the registry's upload
Location URLs point back at the proxy) unless a rule matches: then the proxy answers with a
status (and headers, e.g. Retry-After), resets the connection part-way through the body, waits
longer than a client's timeout, or echoes the request's credentials in an error (to prove that
they are redacted). `down` makes every request fail with a reset, as a vanished registry would.
"""

from __future__ import annotations

import base64
import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from sandbox.http_server import QuietHandler, serving

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


@dataclass
class Rule:
    action: str  # status | reset | delay | echo_credentials
    method: str | None = None
    path_contains: str = ""
    times: int = 1  # how many matching requests the rule applies to; -1 = forever
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after_bytes: int = 1024

    def matches(self, method: str, path: str) -> bool:
        return (self.method in {None, method}) and self.path_contains in path and self.times != 0


@dataclass
class FaultProxy:
    backend: str  # host:port
    rules: list[Rule] = field(default_factory=list)
    down: bool = False
    latency: float = 0.0  # added to every request: a model of a real network round trip
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, action)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

    def take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    if rule.times > 0:
                        rule.times -= 1
                    self.hits.append((method, path, rule.action))
                    return rule
        return None


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close with RST rather than FIN, as a dropped connection looks to the client."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


@contextmanager
def serve_proxy(proxy: FaultProxy) -> Iterator[FaultProxy]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if proxy.down:
                _reset(self)
                return
            if proxy.latency:
                time.sleep(proxy.latency)
            rule = proxy.take(self.command, self.path)
            if rule and rule.action == "status":
                self._answer(rule.status, b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}',
                             rule.headers)
                return
            if rule and rule.action == "delay":
                time.sleep(rule.delay)  # the fault itself: slower than the client's timeout
            if rule and rule.action == "echo_credentials":
                auth = self.headers.get("Authorization", "")
                secret = base64.b64decode(auth[6:]).decode(errors="replace") if auth.startswith(
                    "Basic ") else auth
                error = f'{{"errors":[{{"code":"DENIED","message":"rejected {secret}"}}]}}'
                self._answer(rule.status, error.encode(), {})
                return
            self._forward(body, rule if rule and rule.action == "reset" else None)

        def _answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _forward(self, body: bytes | None, reset: Rule | None) -> None:
            connection = http.client.HTTPConnection(proxy.backend, timeout=60)
            try:
                # Header by header: skopeo sends several Accept lines, all of which must arrive.
                connection.putrequest(self.command, self.path, skip_host=True,
                                      skip_accept_encoding=True)
                for key, value in self.headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        connection.putheader(key, value)
                connection.putheader("Content-Length", str(len(body or b"")))
                connection.endheaders(body)
                response = connection.getresponse()
                data = response.read()
            except OSError:
                _reset(self)
                return
            finally:
                connection.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if reset is not None:
                self.wfile.write(data[: reset.after_bytes])
                self.wfile.flush()
                _reset(self)
                return
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    with serving(Handler, proxy.port) as port:
        proxy.port = port
        yield proxy
