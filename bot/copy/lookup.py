"""Look-ups for the sync engine: digests by manifest HEAD, manifests by digest, a request pinned.

Rule: a digest is one manifest HEAD (skopeo inspect only when the registry's answer is
unusable); independent look-ups run at once on a few long-lived threads whose kept-alive
connections are reused from image to image. A manifest is read by digest at most once per
process (kept in a small memo keyed by digest, so `size_of` before a sync and a further address
written from the mirror cost no second GET: bytes with one sha256 are the same bytes wherever
they were read) and only if its bytes hash to that digest. `name:tag@digest` is pinned only
while the tag still resolves to that digest upstream.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.copy.engine import Part
from bot.copy.model import Registry, SyncItem
from bot.copy.settings import MIN_LOOKUPS
from bot.errors import ErrorKind, TransferError
from bot.image.grammar import SHA256_DIGEST_RE
from bot.image.oci import Manifest
from bot.image.reference import Reference, parse
from bot.messages import message
from bot.registry.quota import MeteredExecutor

A = TypeVar("A")
T = TypeVar("T")
MANIFEST_MEMO = 256


@dataclass(frozen=True)
class Resolved:
    """A request pinned: what to read upstream, where to write, and what is there now."""

    pinned: Reference  # the source at the digest to copy
    destination: Reference  # the target's tag alone, or the target by digest
    current: str | None  # the mirror's digest at `destination` now


@dataclass
class Lookups:
    registry: Registry
    inspect_digest: Callable[[Reference], str | None]  # the skopeo fallback, with its retries
    # In flight at once (bot/copy/settings.py's lookups_in_flight): at least an index's
    # children in one round (platforms and their attestations).
    workers: int = MIN_LOOKUPS
    _pool: ThreadPoolExecutor = field(init=False, repr=False)
    _manifests: OrderedDict[str, Manifest] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Each look-up runs under the meter of the image it is for (bot/registry/quota.py).
        self._pool = MeteredExecutor(max_workers=self.workers, thread_name_prefix="lookup")

    def submit(self, action: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(action, *args)

    def each(self, action: Callable[[A], T], items: Sequence[A]) -> list[T]:
        """`action` over `items` at once on the look-up threads; the first failure is raised."""
        return list(self._pool.map(action, items))

    def digest(self, ref: Reference) -> str | None:
        """One manifest HEAD; skopeo inspect only when the registry's answer is unusable."""
        try:
            return self.registry.head_digest(ref)
        except TransferError as error:
            if error.kind != ErrorKind.UNKNOWN:
                raise
            return self.inspect_digest(ref)

    def digests(self, refs: Sequence[Reference]) -> list[str | None]:
        return self.each(self.digest, refs)

    def manifest(self, ref: Reference) -> Manifest:
        """A manifest by digest, read once per process and checked against its digest."""
        key = str(ref.digest)
        with self._lock:
            if key in self._manifests:
                self._manifests.move_to_end(key)
                return self._manifests[key]
        manifest = self.registry.get_manifest(ref)
        if manifest is None:
            raise TransferError(ErrorKind.NOT_FOUND, message(
                "%(image)s disappeared upstream during the sync", image=ref))
        if manifest.digest != ref.digest:
            raise TransferError(ErrorKind.DIGEST_MISMATCH, message(
                "%(name)s answered %(answered)s when asked for %(asked)s", name=ref.name,
                answered=manifest.digest, asked=str(ref.digest)))
        with self._lock:
            self._manifests[key] = manifest
            while len(self._manifests) > MANIFEST_MEMO:
                self._manifests.popitem(last=False)
        return manifest

    def resolve(self, item: SyncItem) -> Resolved:
        source = item.source if isinstance(item.source, Reference) else parse(item.source)
        target = item.target
        destination = target.with_tag(target.tag) if target.tag else target
        if source.digest and not source.tag:
            return Resolved(source, destination, self.digest(destination))
        tagged = source.with_tag(source.tag or "latest")
        upstream, current = self.digests([tagged, destination])
        if upstream is None:
            raise not_found(tagged)
        if source.digest and upstream != source.digest:
            raise TransferError(ErrorKind.TAG_MOVED, message(
                "%(tagged)s now points to %(upstream)s, not to the requested %(digest)s; ask for "
                "%(tagged)s (its current build) or %(pinned)s (that build, without the tag)",
                tagged=tagged, upstream=upstream, digest=source.digest,
                pinned=f"{source.name}@{source.digest}"))
        return Resolved(tagged.with_digest(upstream), destination, current)

    def parts(self, pinned: Reference, top: Manifest, destination: Reference,
              entries: list[dict[str, Any]] | None = None) -> list[Part]:
        """The manifests to copy: `top` alone, or the index's children (`entries`, or all)."""
        if not top.is_index:
            return [Part(pinned, destination, top)]
        digests = [_entry_digest(pinned, entry) for entry in
                   (top.entries() if entries is None else entries)]
        manifests = self._pool.map(self.manifest, [pinned.with_digest(d) for d in digests])
        return [Part(pinned.with_digest(d), destination.with_digest(d), m)
                for d, m in zip(digests, manifests, strict=True)]


def _entry_digest(pinned: Reference, entry: dict[str, Any]) -> str:
    """An index entry's digest, checked before it reaches a URL or skopeo's arguments."""
    digest = entry.get("digest")
    # Index entries name their children by sha256 (what Manifest.digest computes and checks).
    if not isinstance(digest, str) or not SHA256_DIGEST_RE.match(digest):
        raise TransferError(ErrorKind.UNKNOWN, message(
            "%(name)s: the index lists an invalid digest %(digest)s", name=pinned.name,
            digest=repr(str(digest)[:80])))
    return digest


def not_found(source: Reference) -> TransferError:
    return TransferError(ErrorKind.NOT_FOUND, message(
        "%(image)s does not exist upstream (check the name and tag on the source registry)",
        image=source))
