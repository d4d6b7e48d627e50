"""Copying one image's manifests and blobs to the mirror, several at a time, reading each once.

Rule: an index is copied as its child manifests, each by digest with digests preserved, then
the original index bytes are put at the destination, so the mirror serves upstream's digest.
Every manifest and blob is read upstream at most once: the look-ups already hold each child
manifest's bytes (bot/copy/lookup.py), so once the mirror holds a child's blobs the engine puts
those same bytes there itself (`put_manifest`: same bytes, same digest). skopeo
(`skopeo copy --preserve-digests source@child mirror/repo@child`) copies only what that cannot:
a nested index, a schema 1 manifest, foreign layers, or a part one of whose blobs could not be
staged — then it reads that part's manifest and blobs again, which costs pulls but loses
nothing. Each blob the mirror lacks is staged, every platform's at once:
- a blob the blob-location cache places in another repository of the mirror is mounted;
- whether the mirror holds it already is asked with the POST that opens its upload
  (bot/registry/client.py's stage_blob), so a blob there costs one request and one absent goes
  straight into that upload;
- a large one (at least the threshold of bot/registry/blobs.py's BlobCopySettings) is copied by the
  transport in ranges, one large blob at a time per process;
- the rest are copied in one stream each (ranges of a chunk, one at a time), up to
  SMALL_BLOB_STREAMS at once, holding at most half the ranged copy's buffers
  (`parallel` x `chunk_size` / 2) in flight.
A small blob that fails to stage leaves its part to skopeo, which copies it as it always has (a
large one fails its part: retrying it in one stream would undo what ranges are for). At most
`copy_processes` parts are written at once in this process, whatever the number of images
synced in parallel (`--jobs`). `landed` hears of each child as the mirror gets it (further
addresses start from there: bot/copy/addresses.py).

Memory: the ranged copy's `parallel + 1` chunks plus the small blobs' half of that, about
1.5 x `parallel` x `chunk_size` (~104 MiB with the defaults) whatever the image.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from bot.copy.cache import BlobLocations
from bot.copy.settings import DEFAULT_COPY_PROCESSES
from bot.errors import ErrorKind, TransferError
from bot.image.oci import Blob, Manifest, blobs, image_size, whole_by_blobs
from bot.image.reference import Reference
from bot.messages import message
from bot.registry.blobs import DEFAULT_BLOB_COPY, BlobCopySettings, ProgressSink
from bot.registry.quota import MeteredExecutor


class BlobTransport(Protocol):
    """The registry client's blob API (bot/registry/client.py, bot/registry/blobs.py)."""

    def stage_blob(self, source: Reference, target: Reference, digest: str, size: int, *,
                   mount_from: Sequence[str] = (), likely_absent: bool = False, chunk_size: int,
                   parallel: int, progress: ProgressSink | None = None) -> str: ...


class ManifestWriter(Protocol):
    def put_manifest(self, ref: Reference, manifest: Manifest) -> str: ...


SkopeoCopy = Callable[[Reference, Reference, bool], None]  # (source, destination, all_platforms)
# Small blobs moving at once: each is a few round trips (POST, GET, PUT) of mostly waiting, so
# more of them than skopeo's 6 per process; the byte budget bounds their memory.
SMALL_BLOB_STREAMS = 32
HIDDEN_BY_A_WRITER = frozenset({ErrorKind.UNKNOWN, ErrorKind.NOT_FOUND})
PUT_ATTEMPTS = 3  # a manifest PUT, when a concurrent writer hid what it references


class ByteBudget:
    """At most `limit` bytes held at once; a holder of more than the limit holds all of it."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._held = 0
        self._freed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, size: int) -> Iterator[None]:
        size = min(max(size, 0), self.limit)
        with self._freed:
            self._freed.wait_for(lambda: self._held + size <= self.limit)
            self._held += size
        try:
            yield
        finally:
            with self._freed:
                self._held -= size
                self._freed.notify_all()


@dataclass(frozen=True)
class Part:
    """One manifest to copy: a child of an index (by digest), or a single image."""

    source: Reference  # pinned by digest
    destination: Reference
    manifest: Manifest

    @property
    def is_index(self) -> bool:
        """A nested index: skopeo copies it with --all (its own children, digests kept)."""
        return self.manifest.is_index


@dataclass
class BlobStager:
    """Makes the mirror hold an image's blobs before skopeo runs (see the module's rule)."""

    transport: BlobTransport
    locations: BlobLocations | None
    settings: BlobCopySettings = DEFAULT_BLOB_COPY
    progress: ProgressSink | None = None  # told as a large blob moves (a line per blob)
    _large: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="large-blob"), repr=False)
    _small: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        SMALL_BLOB_STREAMS, thread_name_prefix="small-blob"), repr=False)
    _budget: ByteBudget = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._budget = ByteBudget(self.settings.parallel * self.settings.chunk_size // 2)

    def stage(self, source: Reference, target: Reference, blob: Blob) -> Future[bool]:
        """Start staging `blob`: the future tells whether the mirror now holds it (False: it
        is left to skopeo)."""
        # Where the blob-location cache saw it: in `target`'s own repository (then the mirror
        # is asked before anything is fetched: it is most likely there), or elsewhere (mounts).
        seen = [] if self.locations is None else self.locations.repositories(target.registry,
                                                                             blob.digest)
        here = target.repository in seen
        elsewhere = [] if here else seen
        if self.settings.ranged(blob.size):
            return self._large.submit(self._stage_large, source, target, blob, elsewhere)
        return self._small.submit(self._stage_small, source, target, blob, elsewhere, here)

    def _stage_small(self, source: Reference, target: Reference, blob: Blob,
                     elsewhere: list[str], here: bool) -> bool:
        # One stream: a blob above a chunk goes in ranges of a chunk, one after the other, so
        # it holds at most about two chunks.
        try:
            with self._budget.hold(min(blob.size, 2 * self.settings.chunk_size)):
                self.transport.stage_blob(source, target, blob.digest, blob.size,
                                          mount_from=elsewhere, likely_absent=not here,
                                          chunk_size=self.settings.chunk_size, parallel=1)
        except TransferError:
            return False  # skopeo copies it, and reports what goes wrong in its own words
        return True

    def _stage_large(self, source: Reference, target: Reference, blob: Blob,
                     elsewhere: list[str]) -> bool:
        self.transport.stage_blob(source, target, blob.digest, blob.size, mount_from=elsewhere,
                                  chunk_size=self.settings.chunk_size,
                                  parallel=self.settings.parallel, progress=self.progress)
        return True


@dataclass
class CopyEngine:
    """Copies the parts of one image at a time, sharing its process bound across images."""

    skopeo_copy: SkopeoCopy
    writer: ManifestWriter
    stager: BlobStager | None  # None: skopeo moves every blob
    copy_processes: int = DEFAULT_COPY_PROCESSES
    _pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A part's skopeo copy counts its pulls for the image it is part of (bot/registry/quota.py).
        self._pool = MeteredExecutor(max(1, self.copy_processes), thread_name_prefix="copy")

    def copy(self, parts: Sequence[Part], index: tuple[Reference, Manifest] | None = None,
             landed: Callable[[Part], None] | None = None) -> None:
        """Copy every part (blobs staged first), then put `index` (destination, manifest);
        `landed` is told of each part once the mirror holds it."""
        staged: dict[str, Future[bool]] = {}  # a blob shared by two parts: staged once

        def stage_blobs(part: Part) -> list[Future[bool]] | None:
            """The part's blobs being staged; None when skopeo copies the part whole."""
            if self.stager is None or not whole_by_blobs(part.manifest):
                return None
            for blob in blobs(part.manifest):
                if blob.digest not in staged:
                    staged[blob.digest] = self.stager.stage(part.source, part.destination, blob)
            return [staged[blob.digest] for blob in blobs(part.manifest)]

        def copy_part(part: Part, staging: list[Future[bool]] | None) -> None:
            # A staging failure of a large blob fails this part (result() raises it).
            if staging is not None and all([future.result() for future in staging]):
                self._put(part)
            else:
                self.skopeo_copy(part.source, part.destination, part.is_index)
            if landed is not None and not part.is_index:
                landed(part)

        pending = [(part, stage_blobs(part)) for part in parts]
        # Parts with nothing to wait for first, the largest first: the last copies to finish
        # are small ones (an attestation), not a platform started late.
        pending.sort(key=lambda item: (len(item[1] or ()), -image_size(item[0].manifest)))
        futures = [self._pool.submit(copy_part, part, staging) for part, staging in pending]
        wait(futures)
        for future in futures:
            future.result()  # the first failure, once every part has finished
        if index is not None:
            destination, manifest = index
            self._put_manifest(destination, manifest)

    def _put(self, part: Part) -> None:
        """The part's manifest, as read upstream, put at the mirror: its blobs are there."""
        def restage() -> None:
            stager = self.stager
            if stager is not None:
                for blob in blobs(part.manifest):
                    stager.stage(part.source, part.destination, blob).result()

        written = self._put_manifest(part.destination, part.manifest, restage)
        if written != part.manifest.digest:
            raise TransferError(ErrorKind.DIGEST_MISMATCH, message(
                "the mirror stored %(name)s as %(written)s, not %(expected)s",
                name=part.destination.name, written=written, expected=part.manifest.digest))

    def _put_manifest(self, destination: Reference, manifest: Manifest,
                      restage: Callable[[], None] = lambda: None) -> str:
        """PUT `manifest`, tried again (PUT_ATTEMPTS in all) when the mirror misses what it
        references: another run writing the same blob or manifest at once can hide it for a
        moment (distribution rewrites a link file in place on every commit, and a PUT that reads
        it empty answers 400 "blob unknown"). `restage` stages the blobs again before a retry."""
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                return self.writer.put_manifest(destination, manifest)
            except TransferError as error:
                # The mirror's 400 names `MANIFEST_BLOB_UNKNOWN` (unknown to our table) or
                # `BLOB_UNKNOWN` (not found); anything else is not this race.
                if error.kind not in HIDDEN_BY_A_WRITER or attempt == PUT_ATTEMPTS:
                    raise
                restage()
        raise AssertionError("unreachable: the last attempt returns or raises")
