"""Reading one blob upstream, in order: ranges fetched N at a time, or one plain stream.

Rule: every range answer is checked (206, the Content-Range asked for, exactly that many
bytes); a short body is retried, then fails as `network`. A registry that ignores Range (200),
refuses it (416), lies about Content-Range, or whose redirect target refuses it, is read as one
stream instead, from where the ranges stopped; a stream that breaks is read on from where it
broke. At most `parallel` ranges are held at once. The
storage URL a redirect leads to is reused for the next ranges (one registry round trip per
blob, not per range) and never gets our Authorization header.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from urllib3.exceptions import HTTPError
from urllib3.response import BaseHTTPResponse

from bot.containers_conf import Endpoint
from bot.errors import ErrorKind, TransferError
from bot.transport import Transport, discard, status_error, transport_error

CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)\Z")
ATTEMPTS = 3  # per range, and per stream (which resumes where it broke)
T = TypeVar("T")


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
        self.ranged = False  # whether ranges were used (for tests and measurements)

    def pieces(self) -> Iterator[bytes]:
        first = self._first()
        if isinstance(first, bytes):
            self.ranged = True
            yield first
            yield from self._ranges(len(first))
        else:
            yield from self._stream(first, skip=0)

    def _first(self) -> bytes | BaseHTTPResponse:
        """The first range's bytes, or an answer to read as one stream when ranges fail."""
        if self.size > 0:
            try:
                return self._retrying(self._first_range)
            except RangesUnusable:
                pass
        return self._open(None)

    def _first_range(self) -> bytes | BaseHTTPResponse:
        end = min(self.chunk_size, self.size) - 1
        response = self._open((0, end))
        if response.status == 200:  # Range ignored: this answer is the whole blob
            return response
        return self._accept(response, 0, end)

    def _ranges(self, start: int) -> Iterator[bytes]:
        offsets = iter(range(start, self.size, self.chunk_size))
        window: deque[tuple[int, Future[bytes]]] = deque()
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="blob-range") as pool:
            try:
                for offset in offsets:
                    window.append((offset, pool.submit(self._fetch, offset)))
                    if len(window) == self.parallel:
                        break
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
            finally:
                for _, pending in window:
                    pending.cancel()

    def _fetch(self, start: int) -> bytes:
        end = min(start + self.chunk_size, self.size) - 1
        return self._retrying(lambda: self._accept(self._open((start, end)), start, end))

    @staticmethod
    def _retrying(fetch: Callable[[], T]) -> T:
        """`fetch`, tried again after a dropped connection or a short body."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fetch()
            except TransferError as error:
                if error.kind != ErrorKind.NETWORK or attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _accept(self, response: BaseHTTPResponse, start: int, end: int) -> bytes:
        """The body of a 206 for bytes start-end, checked; RangesUnusable when it is not one."""
        if response.status != 206:
            if response.status in {401, 404, 429} or response.status >= 500:
                raise status_error(response, self._what(), at_mirror=False)
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
        return self._read(response, end - start + 1)

    def _read(self, response: BaseHTTPResponse, count: int) -> bytes:
        try:
            data = response.read(count, decode_content=False)
        except (HTTPError, OSError) as error:
            raise transport_error(self.endpoint.host, error, self.transport.timeout) from error
        finally:
            discard(response)
        if len(data) != count:
            raise TransferError(ErrorKind.NETWORK, f"{self._what()}: upstream sent {len(data)} "
                                f"of {count} bytes")
        return data

    def _stream(self, response: BaseHTTPResponse, skip: int) -> Iterator[bytes]:
        """The blob from byte `skip` on, from a plain answer for the whole blob; a stream that
        breaks is opened again and read on from where it broke."""
        position = skip
        for attempt in range(1, ATTEMPTS + 1):
            try:
                for piece in self._read_stream(response, position):
                    position += len(piece)
                    yield piece
                return
            except TransferError as error:
                if error.kind != ErrorKind.NETWORK or attempt == ATTEMPTS:
                    raise
            response = self._open(None)

    def _read_stream(self, response: BaseHTTPResponse, skip: int) -> Iterator[bytes]:
        if response.status != 200:
            raise status_error(response, self._what(), at_mirror=False)
        try:
            length = response.headers.get("Content-Length")
            if length is not None and length != str(self.size):
                raise TransferError(ErrorKind.NETWORK, f"{self._what()}: upstream declares "
                                    f"{length} bytes, the manifest {self.size}")
            position = 0
            while position < self.size:
                count = min(self.chunk_size, self.size - position)
                data = self._read_more(response, count)
                if len(data) != count:
                    raise TransferError(ErrorKind.NETWORK, f"{self._what()}: upstream's stream "
                                        f"ended after {position + len(data)} bytes")
                if position + count > skip:
                    yield data[max(skip - position, 0):]
                position += count
            if self._read_more(response, 1):
                raise TransferError(ErrorKind.NETWORK, f"{self._what()}: upstream sent more "
                                    f"than {self.size} bytes")
        finally:
            discard(response)

    def _read_more(self, response: BaseHTTPResponse, count: int) -> bytes:
        try:
            return response.read(count, decode_content=False)
        except (HTTPError, OSError) as error:
            raise transport_error(self.endpoint.host, error, self.transport.timeout) from error

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
