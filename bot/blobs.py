"""Large blobs copied registry to registry: fetched upstream in ranges, N at a time, streamed to
the mirror as one upload in order.

Rule: memory stays about `parallel` x `chunk_size` whatever the blob's size (no whole-blob
buffer, no temporary file); the sha256 of exactly the bytes uploaded is checked before the
upload is committed, and a mismatch cancels it (nothing is recorded). A registry that ignores
Range (200), refuses it (416), or whose redirect target refuses it, gets one plain stream
instead; an upstream that lies about Content-Range or sends a short body is detected.
Redirects to another host (presigned storage URLs) never carry our Authorization header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import ConfigError

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
