"""The further addresses of an image: Docker Hub's short form and the other mirrors.

Rule: once the primary address serves the image (copied, or already current, and verified),
every further address is written from the primary mirror, pinned by digest — never from
upstream again, so a further address costs no upstream pull. An address on the same registry
as the primary (the short form `docker.io/NAME`) gets a cross-repository mount of every blob
and manifest puts, all at once (the manifests are the ones already read upstream: same digest,
same bytes): no blob upload, no manifest read. During a whole copy this starts as each child
lands at the primary (`ahead`): its blobs are mounted and its manifest put by digest, which
serves no tag; the tag (the index) is put only after the primary is verified. Should the
registry refuse a mount, the address is copied like one on another mirror. Each address is
verified by digest and reported on its own: a failure on one never undoes the others. A
platform subset is never written over an address that serves the whole image
(`subset_refused`), as on the primary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.copy.engine import CopyEngine, Part
from bot.copy.lookup import Lookups
from bot.copy.model import AddressResult
from bot.copy.platforms import refuse_narrowing
from bot.errors import TransferError
from bot.image.oci import Manifest, blobs
from bot.image.platform import Platform
from bot.image.reference import Reference


class Mounter(Protocol):
    def mount_blob(self, target: Reference, digest: str, from_repository: str) -> bool: ...
    def put_manifest(self, ref: Reference, manifest: Manifest) -> str: ...
    def get_manifest(self, ref: Reference) -> Manifest | None: ...


@dataclass
class AddressWriter:
    """Writes an image the primary mirror serves to further addresses."""

    registry: Mounter
    lookups: Lookups
    engine: CopyEngine
    record: Callable[[Reference, Sequence[Part]], None]  # what the blob-location cache learns
    verify: Callable[[Reference, str], None]  # DIGEST_MISMATCH unless it serves that digest
    # (repository name, child digest): written by `ahead` while the primary was being copied.
    _written: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @staticmethod
    def destination(target: Reference, digest: str) -> Reference:
        """Where `target` is written: its tag, or the digest when it names none."""
        return target if target.tag else target.with_digest(digest)

    def ahead(self, primary: Reference, targets: Sequence[Reference]
              ) -> Callable[[Part], None] | None:
        """What to do as each child of a whole copy lands at `primary`: mount its blobs into
        every target on the same registry and put its manifest by digest. A failure is left
        for `write`, which does the same again and reports it."""
        same = [target for target in targets if target.registry == primary.registry]
        if not same:
            return None

        def follow(part: Part) -> None:
            for target in same:
                copy = Part(part.destination, target.with_digest(part.manifest.digest),
                            part.manifest)
                try:
                    if self._mount_and_put([copy], primary):
                        with self._lock:
                            self._written.add((copy.destination.name, part.manifest.digest))
                except TransferError:
                    continue

        return follow

    def write(self, primary: Reference, digest: str, targets: Sequence[Reference], *,
              platforms: Sequence[Platform] = (),
              current: Mapping[Reference, str | None] | None = None) -> list[AddressResult]:
        """Write `primary@digest` to each target; `platforms`: a subset request's platforms;
        `current`: what some destinations serve now, when already looked up."""
        source = primary.with_digest(digest)
        known = current or {}
        return [self._one(source, target, digest, platforms, known) for target in targets]

    def _one(self, source: Reference, target: Reference, digest: str,
             platforms: Sequence[Platform], known: Mapping[Reference, str | None]
             ) -> AddressResult:
        destination = self.destination(target, digest)
        try:
            current = known[destination] if destination in known else self.lookups.digest(
                destination)
            if current == digest:
                return AddressResult(target, "unchanged")
            if platforms and current is not None and destination.tag:
                refuse_narrowing(self.registry.get_manifest(destination), destination, platforms)
            top = self.lookups.manifest(source)
            parts = self.lookups.parts(source, top, destination)
            index = (destination, top) if top.is_index else None
            if destination.registry != source.registry or not self._mount_and_put(parts, source):
                self.engine.copy(parts, index)
            elif index is not None:
                self.registry.put_manifest(*index)
            self.verify(destination, digest)
            self.record(destination, parts)
            return AddressResult(target, "copied")
        except TransferError as error:
            return AddressResult(target, "failed", error)

    def _mount_and_put(self, parts: Sequence[Part], source: Reference) -> bool:
        """Mount every blob from the primary's repository, then put each manifest by digest.
        False (nothing put) when a part is a nested index or the registry refuses a mount."""
        if any(part.is_index for part in parts):
            return False
        with self._lock:  # what `ahead` wrote is skipped once, then forgotten
            done = {key for part in parts
                    if (key := (part.destination.name, part.manifest.digest)) in self._written}
            self._written -= done
        parts = [part for part in parts if (part.destination.name, part.manifest.digest) not in done]
        wanted = {blob.digest: part.destination for part in parts for blob in blobs(part.manifest)}
        mounted = self.lookups.each(
            lambda digest: self.registry.mount_blob(wanted[digest], digest, source.repository),
            list(wanted))
        if not all(mounted):
            return False
        self.lookups.each(lambda part: self.registry.put_manifest(part.destination, part.manifest),
                          parts)
        return True
