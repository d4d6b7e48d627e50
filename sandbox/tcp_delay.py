"""A TCP proxy on loopback that models a link's latency below HTTP, in front of any server.

Rule: every byte from the client reaches the server `delay` seconds after the client sent it,
and a new connection's bytes one `delay` later still (the round trip of its handshake, which
a real client waits for before it may send); answers pass back at once, so each round trip is
charged once, on the way in. Bytes on their way are pipelined: a byte sent while others are in
flight is not held behind them, and throughput is not capped. Unlike the HTTP-level
sandbox.fault_proxy (each request delayed as a whole, after its body was read), a request's
body costs one delay whatever its size or its number of writes, a kept-alive connection saves
the handshake, and the proxy parses nothing (it adds no HTTP work of its own to the machine).

The server sees the client's Host header unchanged, so a registry's upload Location URLs
point back at the proxy.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

READ_SIZE = 64 * 1024


@dataclass
class TcpDelay:
    backend: str  # host:port
    delay: float  # seconds: the link's round trip
    handshake: bool = True  # a new connection pays one more round trip before its first byte
    port: int = 0
    connections: int = 0  # accepted so far
    _open: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve_connection(self, client_reader: asyncio.StreamReader,
                                client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        task.add_done_callback(self._open.discard)
        loop = asyncio.get_running_loop()
        # The client may send once its handshake's round trip is over.
        may_send_at = loop.time() + (self.delay if self.handshake else 0.0)
        host, port = self.backend.rsplit(":", 1)
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        inbound = asyncio.create_task(
            self._delayed(client_reader, server_writer, may_send_at))
        outbound = asyncio.create_task(_copy(server_reader, client_writer))
        try:
            # The exchange ends when the server is done answering (a client's end of stream
            # reaches the server after the delay, as any byte would), or when either side fails.
            done, _ = await asyncio.wait({inbound, outbound},
                                         return_when=asyncio.FIRST_COMPLETED)
            if inbound in done and inbound.exception() is None:
                await asyncio.wait({outbound})
        except asyncio.CancelledError:
            pass  # the proxy is stopping: the connection ends here, quietly
        finally:
            for task in (inbound, outbound):
                task.cancel()
            await asyncio.gather(inbound, outbound, return_exceptions=True)
            for writer in (server_writer, client_writer):
                writer.close()

    async def _delayed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       may_send_at: float) -> None:
        """Client to server: each chunk stamped with when it arrives, then delivered in order
        at that time by a second task, so reading never waits on delivery (pipelining)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)  # the modelled link itself: the bytes are in flight
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        delivery = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(READ_SIZE)
                queue.put_nowait((max(loop.time(), may_send_at) + self.delay, data))
                if not data:
                    break
            await delivery
        finally:
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)

    async def run(self, stop: asyncio.Event, listening: Callable[[], None] = lambda: None) -> None:
        """Serve until `stop` is set; `listening` is called once the port is known."""
        server = await asyncio.start_server(self._serve_connection, "127.0.0.1", self.port,
                                            backlog=256)
        self.port = server.sockets[0].getsockname()[1]
        listening()
        async with server:
            await stop.wait()
            server.close()
            for task in self._open:
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Server to client, at once; the server's end of stream ends the client's too."""
    while data := await reader.read(READ_SIZE):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


@contextmanager
def serve_tcp_delay(proxy: TcpDelay) -> Iterator[TcpDelay]:
    """The proxy on an event loop in a thread of this process (for tests)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(proxy.run(stop, started.set),), daemon=True)
    thread.start()
    if not started.wait(timeout=10):
        raise RuntimeError("the TCP delay proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@contextmanager
def tcp_delay_process(backend: str, delay: float, *, handshake: bool = True) -> Iterator[str]:
    """The proxy in a process of its own (off the caller's GIL, as a network would be); yields
    its host:port."""
    argv = [sys.executable, "-m", "sandbox.tcp_delay", backend, str(delay),
            "handshake" if handshake else "no-handshake"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        host = process.stdout.readline().strip()
        if not host:
            raise RuntimeError(f"the TCP delay proxy for {backend} did not start")
        yield host
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    backend, delay, handshake = sys.argv[1:4]
    proxy = TcpDelay(backend, float(delay), handshake=handshake == "handshake")

    async def serve() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await proxy.run(stop, lambda: print(proxy.host, flush=True))

    asyncio.run(serve())


if __name__ == "__main__":
    main()
