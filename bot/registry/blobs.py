"""Blobs copied registry to registry: a large one fetched upstream in ranges, N at a time, streamed
to the mirror as one upload in order; one of at most a chunk read whole and put in one request.

Rule: memory stays about `parallel` x `chunk_size` whatever the blob's size (no whole-blob
buffer, no temporary file); the sha256 of exactly the bytes uploaded is checked before the
upload is committed, and a mismatch cancels it (nothing is recorded). A blob of at most one
chunk is checked before its upload is used, then sent as the spec's monolithic upload (POST,
then one PUT `?digest=` carrying the bytes: no PATCH). A registry that ignores Range (200),
refuses it (416), or whose redirect target refuses it, gets one plain stream instead; an
upstream that lies about Content-Range or sends a short body is detected. Redirects to another
host (presigned storage URLs) never carry our Authorization header.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TextIO

from bot.errors import ConfigError, ErrorKind, TransferError
from bot.image.oci import human_size
from bot.registry.blob_source import RangedSource
from bot.registry.blob_upload import Upload
from bot.registry.containers_conf import Endpoint
from bot.registry.transport import Transport

MiB = 1024 * 1024


@dataclass(frozen=True)
class BlobCopySettings:
    """When and how a blob is copied in ranges: blobs of at least `threshold` bytes go in
    `chunk_size` ranges, `parallel` of them in flight."""

    threshold: int = 32 * MiB
    chunk_size: int = 8 * MiB
    parallel: int = 8

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.chunk_size < 1 or self.parallel < 1:
            raise ConfigError("blob copy settings: threshold >= 0, chunk size >= 1 and "
                              f"parallel >= 1 are required (got {self})")

    def ranged(self, size: int) -> bool:
        """Whether a blob of `size` bytes is copied in ranges."""
        return size >= self.threshold


DEFAULT_BLOB_COPY = BlobCopySettings()


@dataclass(frozen=True)
class BlobProgress:
    """How far one blob's copy is: bytes committed to the upload so far, of `total`."""

    digest: str
    total: int
    done: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


ProgressSink = Callable[[BlobProgress], None]


class ProgressPrinter:
    """A ProgressSink printing one line per blob to `stream` at most every `interval` seconds
    while it moves, and once when it is done: bytes, rate, time left."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, progress: BlobProgress) -> None:
        now = time.monotonic()
        finished = progress.done >= progress.total
        with self._lock:
            if not finished and now - self._last.get(progress.digest, -math.inf) < self.interval:
                return
            self._last[progress.digest] = now
        left = progress.seconds_left
        when = "done" if finished else (f"{left:.0f}s left" if left is not None else "? left")
        print(f"blob {progress.digest[:19]}: {human_size(progress.done)} of "
              f"{human_size(progress.total)}, {human_size(progress.rate)}/s, {when}",
              file=self.stream, flush=True)


class _Meter:
    def __init__(self, digest: str, total: int, sink: ProgressSink | None) -> None:
        self.digest, self.total, self.sink = digest, total, sink
        self.started = time.monotonic()
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        if self.sink is not None:
            self.sink(BlobProgress(self.digest, self.total, self.done,
                                   time.monotonic() - self.started))


def copy_blob(transport: Transport, source: Endpoint, target: Endpoint, digest: str, size: int,
              *, chunk_size: int = DEFAULT_BLOB_COPY.chunk_size,
              parallel: int = DEFAULT_BLOB_COPY.parallel,
              progress: ProgressSink | None = None, upload: Future[Upload | None] | None = None,
              ) -> bool:
    """Copy one blob from `source` to `target` as one upload, checked before it is committed.
    `upload`: one being opened at `target` meanwhile (a blob of one chunk is read upstream
    while it opens); when it comes back None the mirror holds the blob already and nothing is
    sent. True when the blob was copied."""
    if size < 0:
        _cancel(upload)
        raise transport.error(ErrorKind.UNKNOWN, f"blob {digest} has a negative size ({size})")
    if size <= chunk_size:
        return _copy_whole(transport, source, target, digest, size, progress=progress,
                           upload=upload)
    opened = upload.result() if upload is not None else Upload.start(transport, target)
    if opened is None:
        return False
    try:
        hasher = hashlib.sha256()
        meter = _Meter(digest, size, progress)
        reader = RangedSource(transport, source, digest, size, chunk_size=chunk_size,
                              parallel=parallel)
        for piece in reader.pieces():
            hasher.update(piece)
            opened.append(piece)
            meter.advance(len(piece))
        _check(transport, source, digest, hasher.hexdigest())
        opened.commit(digest)
    except BaseException:
        opened.cancel()
        raise
    return True


def _copy_whole(transport: Transport, source: Endpoint, target: Endpoint, digest: str, size: int,
                *, progress: ProgressSink | None, upload: Future[Upload | None] | None) -> bool:
    """A blob of at most one chunk: read, checked, then put with its upload's commit."""
    reader = RangedSource(transport, source, digest, size, chunk_size=max(size, 1), parallel=1)
    opened: Upload | None = None
    try:
        with contextlib.closing(reader.pieces()) as pieces:
            # One piece, the whole blob in the reader's buffer (none for an empty blob): checked
            # and sent from there, so the blob is held once.
            data = next(pieces, memoryview(b""))
            _check(transport, source, digest, hashlib.sha256(data).hexdigest())
            opened = upload.result() if upload is not None else Upload.start(transport, target)
            if opened is None:
                return False
            opened.commit(digest, data)
    except BaseException:
        if opened is not None:
            opened.cancel()
        else:
            _cancel(upload)
        raise
    _Meter(digest, size, progress).advance(size)
    return True


def _cancel(upload: Future[Upload | None] | None) -> None:
    """Cancel an upload being opened for a copy that will not happen."""
    if upload is None:
        return
    try:
        opened = upload.result()
    except TransferError:
        return
    if opened is not None:
        opened.cancel()


def _check(transport: Transport, source: Endpoint, digest: str, sha256: str) -> None:
    actual = f"sha256:{sha256}"
    if actual != digest:
        raise transport.error(ErrorKind.DIGEST_MISMATCH, f"{source.name} sent blob {digest} "
                              f"whose bytes hash to {actual}; nothing was committed")
