"""Reading one blob upstream, in order: ranges fetched N at a time, or one plain stream.

Rule: every range answer is checked (206, the Content-Range asked for, exactly that many
bytes); a short body is retried, then fails as `network`. A registry that ignores Range (200),
refuses it (416), lies about Content-Range, or whose redirect target refuses it, is read as one
stream instead, from where the ranges stopped; a stream that breaks is read on from where it
broke. Memory is `parallel` + 1 buffers of `chunk_size`, allocated once and reused, whatever
the blob's size and however slow the upload. The storage URL a redirect leads to is reused for
the next ranges (one registry round trip per blob, not per range) and never gets our
Authorization header.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from urllib3.exceptions import HTTPError
from urllib3.response import BaseHTTPResponse

from bot.errors import ErrorKind, TransferError
from bot.registry.backoff import Backoff
from bot.registry.containers_conf import Endpoint
from bot.registry.transport import Transport, discard

CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)\Z")
# Per range, and per stream (which resumes where it broke), at once: the registry answered and
# the connection broke, and the transport has already waited out whatever refused to connect.
RESUME = Backoff(attempts=3, base_delay=0.0)
READ_STEP = 1 << 20  # read in pieces this big, so no chunk-sized temporary is ever allocated


class Buffers:
    """At most `count` buffers of `size` bytes, made when first needed and then reused; taking
    one waits until one is given back."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size = count, size
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._made = 0
        self._lock = threading.Lock()

    def take(self) -> bytearray:
        with self._lock:
            if self._free.empty() and self._made < self.count:
                self._made += 1
                return bytearray(self.size)
        return self._free.get()

    def give(self, buffer: bytearray) -> None:
        self._free.put(buffer)


class RangesUnusable(Exception):
    """The upstream does not serve ranges we can trust: read it as one stream."""


class RangedSource:
    """The bytes of blob `digest` (`size` bytes) in `endpoint`'s repository, in order."""

    def __init__(self, transport: Transport, endpoint: Endpoint, digest: str, size: int, *,
                 chunk_size: int, parallel: int) -> None:
        self.transport, self.endpoint, self.digest, self.size = transport, endpoint, digest, size
        self.chunk_size, self.parallel = chunk_size, parallel
        self.path = f"/v2/{endpoint.repository}/blobs/{digest}"
        self.scopes = (f"repository:{endpoint.repository}:pull",)
        self._storage_url: str | None = None
        self._buffers = Buffers(parallel + 1, min(chunk_size, max(size, 1)))
        self.ranged = False  # whether ranges were used (for tests and measurements)

    def pieces(self) -> Generator[memoryview, None, None]:
        """The blob in order; each piece is a view of a reused buffer, valid until the next
        piece is asked for."""
        first = self._first()
        if first is not None and first.status == 206:
            self.ranged = True
            yield from self._ranges(first)
        else:
            yield from self._stream(first if first is not None else self._open(None), skip=0)

    def _first(self) -> BaseHTTPResponse | None:
        """The answer to the first range, headers checked and body unread, so the other ranges
        can start at once (a 200 is the whole blob: Range ignored); None: ranges unusable."""
        if self.size == 0:
            return None
        end = min(self.chunk_size, self.size) - 1
        try:
            response = self._open((0, end))
            return response if response.status == 200 else self._checked(response, 0, end)
        except RangesUnusable:
            return None

    def _ranges(self, first: BaseHTTPResponse) -> Iterator[memoryview]:
        offsets = iter(range(self.chunk_size, self.size, self.chunk_size))
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="blob-range") as pool:
            window: deque[tuple[int, Future[memoryview]]] = deque(
                [(0, pool.submit(self._fetch, 0, first))])
            window.extend((offset, pool.submit(self._fetch, offset))
                          for offset in itertools.islice(offsets, self.parallel - 1))
            try:
                while window:
                    offset, future = window.popleft()
                    try:
                        data = future.result()
                    except RangesUnusable:
                        yield from self._stream(self._open(None), skip=offset)
                        return
                    following = next(offsets, None)
                    if following is not None:
                        window.append((following, pool.submit(self._fetch, following)))
                    yield data
                    self._buffers.give(data.obj)  # type: ignore[arg-type]  # a view of a pool buffer: .obj is that bytearray
            finally:
                for _, pending in window:
                    pending.cancel()

    def _fetch(self, start: int, answer: BaseHTTPResponse | None = None) -> memoryview:
        """The bytes of the range from `start`, read from `answer` if given (tried again on a
        fresh request when it breaks)."""
        end = min(start + self.chunk_size, self.size) - 1
        answers = iter([answer] if answer is not None else [])

        def fetch() -> memoryview:
            response = next(answers, None) or self._open((start, end))
            return self._read(self._checked(response, start, end), end - start + 1)

        return RESUME.run(fetch, _broken)

    def _checked(self, response: BaseHTTPResponse, start: int, end: int) -> BaseHTTPResponse:
        """`response` if it is a 206 for exactly bytes start-end; RangesUnusable if not."""
        if response.status != 206:
            if response.status in {401, 404, 429} or response.status >= 500:
                raise self.transport.status_error(response, self._what(), at_mirror=False)
            discard(response)
            raise RangesUnusable(f"HTTP {response.status}")
        match = CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
        wanted = (str(start), str(end))
        length = response.headers.get("Content-Length")
        if (not match or match.group(1, 2) != wanted or match.group(3) not in {"*", str(self.size)}
                or (length is not None and length != str(end - start + 1))):
            discard(response)
            raise RangesUnusable(f"asked for bytes {start}-{end}, got "
                                 f"{response.headers.get('Content-Range')!r}")
        return response

    def _read(self, response: BaseHTTPResponse, count: int) -> memoryview:
        """Exactly `count` bytes of `response`, in a buffer of the pool."""
        buffer = self._buffers.take()
        try:
            filled = self._fill(response, memoryview(buffer)[:count])
        except BaseException:
            self._buffers.give(buffer)
            raise
        finally:
            discard(response)
        if filled != count:
            self._buffers.give(buffer)
            raise self.transport.error(ErrorKind.NETWORK, f"{self._what()}: upstream sent "
                                       f"{filled} of {count} bytes")
        return memoryview(buffer)[:count]

    def _fill(self, response: BaseHTTPResponse, view: memoryview) -> int:
        """Read into `view` until it is full or the body ends; how many bytes came."""
        filled = 0
        while filled < len(view):
            try:
                data = response.read(min(READ_STEP, len(view) - filled), decode_content=False)
            except (HTTPError, OSError) as error:
                raise self.transport.transport_error(self.endpoint.host, error) from error
            if not data:
                break
            view[filled:filled + len(data)] = data
            filled += len(data)
        return filled

    def _stream(self, response: BaseHTTPResponse, skip: int) -> Iterator[memoryview]:
        """The blob from byte `skip` on, from a plain answer for the whole blob; a stream that
        breaks is opened again and read on from where it broke."""
        position = skip
        attempt = 1
        while True:
            try:
                for piece in self._read_stream(response, position):
                    position += len(piece)
                    yield piece
                return
            except TransferError as error:
                if not _broken(error) or not RESUME.again(attempt):
                    raise
            attempt += 1
            response = self._open(None)

    def _read_stream(self, response: BaseHTTPResponse, skip: int) -> Iterator[memoryview]:
        if response.status != 200:
            raise self.transport.status_error(response, self._what(), at_mirror=False)
        buffer = bytearray(min(self.chunk_size, self.size))  # one, reused piece after piece
        try:
            length = response.headers.get("Content-Length")
            if length is not None and length != str(self.size):
                raise self.transport.error(ErrorKind.NETWORK, f"{self._what()}: upstream "
                                           f"declares {length} bytes, the manifest "
                                           f"{self.size}")
            position = 0
            while position < self.size:
                view = memoryview(buffer)[:min(self.chunk_size, self.size - position)]
                filled = self._fill(response, view)
                if filled != len(view):
                    raise self.transport.error(ErrorKind.NETWORK, f"{self._what()}: upstream's "
                                               f"stream ended after {position + filled} bytes")
                if position + filled > skip:
                    yield view[max(skip - position, 0):]
                position += filled
            if self._fill(response, memoryview(bytearray(1))):
                raise self.transport.error(ErrorKind.NETWORK, f"{self._what()}: upstream sent "
                                           f"more than {self.size} bytes")
        finally:
            discard(response)

    def _open(self, byte_range: tuple[int, int] | None) -> BaseHTTPResponse:
        """GET the blob (a range of it, or all), through the cached storage URL when a redirect
        gave one; an expired or refused storage URL is asked for again once."""
        headers = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        storage = self._storage_url
        if storage is not None and byte_range is not None:
            response = self.transport.open_url(storage, "GET", headers, stream=True,
                                               host=self.endpoint.host)
            if response.status not in {401, 403}:
                return response
            discard(response)
        response = self.transport.request(self.endpoint, "GET", self.path, scopes=self.scopes,
                                          headers=headers, stream=True)
        response, url = self.transport.follow(self.endpoint, response,
                                              self.transport.url(self.endpoint, self.path), "GET",
                                              headers, scopes=self.scopes, stream=True)
        if url != self.transport.url(self.endpoint, self.path):
            self._storage_url = url
            if byte_range is not None and 400 <= response.status < 500:
                discard(response)  # the storage refuses ranges: the caller streams
                raise RangesUnusable(f"storage answered HTTP {response.status} to a range")
        return response

    def _what(self) -> str:
        return f"blob {self.digest} of {self.endpoint.name}"


def _broken(error: TransferError) -> bool:
    """A dropped connection or a short body: read again (anything else is the registry's
    answer, which another read would not change)."""
    return error.kind == ErrorKind.NETWORK
