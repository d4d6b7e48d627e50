"""The bench's TCP-level link model (sandbox/tcp_delay.py) in front of a real echo server: bytes
pass intact both ways and ends of stream too; a new connection's first answer costs two round
trips (handshake, then the bytes), a later one one; bytes sent while others are in flight are
not held behind them; answers are not delayed."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox.tcp_delay import TcpDelay, serve_tcp_delay

DELAY = 0.1


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)
        self.request.shutdown(socket.SHUT_WR)


@pytest.fixture
def echo() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def connect(proxy: TcpDelay) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the stream ended early"
        data += chunk
    return data


def test_bytes_and_ends_of_stream_pass_intact(echo: str) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    with serve_tcp_delay(TcpDelay(echo, DELAY)) as proxy, connect(proxy) as sock:
        sender = threading.Thread(target=lambda: (sock.sendall(payload),
                                                  sock.shutdown(socket.SHUT_WR)))
        started = time.monotonic()
        sender.start()
        assert receive(sock, len(payload)) == payload
        assert sock.recv(1) == b""  # the client's end reached the server, and the server's came back
        sender.join()
        # Not capped: 3 MiB take the handshake and one delay, not a delay per chunk.
        assert time.monotonic() - started < 2 * DELAY + 1.0
    assert proxy.connections == 1


def test_a_round_trip_costs_one_delay_and_the_first_two(echo: str) -> None:
    with serve_tcp_delay(TcpDelay(echo, DELAY)) as proxy, connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(b"first")
        assert receive(sock, 5) == b"first"
        first = time.monotonic() - started
        started = time.monotonic()
        sock.sendall(b"second")
        assert receive(sock, 6) == b"second"
        second = time.monotonic() - started
    assert 2 * DELAY <= first < 2 * DELAY + 0.5
    assert DELAY <= second < 2 * DELAY


def test_without_the_handshake_a_new_connection_costs_one_delay(echo: str) -> None:
    with serve_tcp_delay(TcpDelay(echo, DELAY, handshake=False)) as proxy, \
            connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(b"x")
        assert receive(sock, 1) == b"x"
    assert DELAY <= time.monotonic() - started < 2 * DELAY


def test_bytes_in_flight_are_pipelined(echo: str) -> None:
    """Five messages 30 ms apart: each comes back one delay after it was sent, so the last one
    arrives ~0.12 s + DELAY after the first was sent, not after five delays."""
    gap, count = 0.03, 5
    with serve_tcp_delay(TcpDelay(echo, DELAY, handshake=False)) as proxy, \
            connect(proxy) as sock:
        sent: list[float] = []
        arrived: list[float] = []

        def read_all() -> None:
            for _ in range(count):
                receive(sock, 1)
                arrived.append(time.monotonic())

        reader = threading.Thread(target=read_all)
        reader.start()
        for n in range(count):
            sent.append(time.monotonic())
            sock.sendall(bytes([n]))
            time.sleep(gap)  # the client's pace, the stimulus of this test
        reader.join(timeout=5)
    assert len(arrived) == count
    assert all(a - s >= DELAY for s, a in zip(sent, arrived, strict=True))
    assert arrived[-1] - sent[0] < (count - 1) * gap + DELAY + 0.15 < count * DELAY
