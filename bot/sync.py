"""Look up -> compare -> copy -> verify, for one image or many.

Rule: an image is `unchanged` when the mirror's digest (one manifest HEAD) equals the source's
(one manifest HEAD), and then nothing is copied and no manifest is GET from upstream. Otherwise
it is copied with `skopeo copy --all --preserve-digests` from the source pinned by digest, and
reported `copied` only after the mirror answers with that same digest. A platform selection
copies those platforms' manifests (digests preserved) under a smaller index whose digest
differs from upstream's by design. Transient failures are retried with backoff and jitter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from bot.errors import TransferError
from bot.oci import Manifest, human_size, image_size, select_platforms, signature_tags, subset_index
from bot.platform import Platform
from bot.reference import Reference

Status = Literal["copied", "unchanged", "failed", "denied", "invalid"]
SUBSET_NOTE = ("platform subset: each platform keeps its upstream digest; the index listing them "
               "is new, so its digest differs from upstream's")
T = TypeVar("T")


class Registry(Protocol):
    def head_digest(self, ref: Reference) -> str | None: ...
    def get_manifest(self, ref: Reference) -> Manifest | None: ...
    def put_manifest(self, ref: Reference, manifest: Manifest) -> str: ...


class Copier(Protocol):
    def copy(self, source: Reference, destination: Reference, *, all_platforms: bool = True,
             platform: Platform | None = None) -> None: ...
    def inspect_digest(self, ref: Reference) -> str | None: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int, error: TransferError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True)
class SyncItem:
    source: Reference | str
    target: Reference
    platforms: tuple[Platform, ...] = ()


@dataclass
class SyncResult:
    source: Reference | str
    target: Reference | None
    status: Status
    digest: str | None = None
    error: TransferError | None = None
    platforms: tuple[Platform, ...] = ()
    signatures: list[str] = field(default_factory=list)
    size: int | None = None
    elapsed: float = 0.0
    note: str | None = None
    refusal: str | None = None  # why the plan refused it (denied, invalid): not a transfer error
    refusal_kind: str | None = None  # a finer kind for the refusal (e.g. too_many_tags)

    @property
    def transient(self) -> bool:
        return self.error is not None and self.error.transient

    def _error_json(self) -> dict[str, str] | None:
        if self.error is not None:
            return {"kind": str(self.error.kind), "message": self.error.message}
        if self.refusal is not None:
            return {"kind": self.refusal_kind or self.status, "message": self.refusal}
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target) if self.target else None,
            "digest": self.digest,
            "status": self.status,
            "error": self._error_json(),
            "platforms": [str(p) for p in self.platforms] if self.platforms else "all",
            "signatures": self.signatures,
            "size": self.size,
            "note": self.note,
        }


@dataclass
class Syncer:
    """Syncs images with a registry client for look-ups and a copier (skopeo) for bytes."""

    registry: Registry
    copier: Copier
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_size: int | None = None
    sleep: Callable[[float], None] = time.sleep
    # Look-ups that do not depend on each other run at once on a few long-lived threads, whose
    # kept-alive connections (one per thread and host) are reused from image to image.
    _lookups: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="lookup"),
        repr=False)

    def _digests(self, refs: Sequence[Reference]) -> list[str | None]:
        return list(self._lookups.map(self._digest, refs))

    def _with_retries(self, action: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return action()
            except TransferError as error:
                if not error.transient or attempt >= self.retry.attempts:
                    raise
                self.sleep(self.retry.delay(attempt, error))
                attempt += 1

    def _digest(self, ref: Reference) -> str | None:
        """One manifest HEAD; skopeo inspect only when the registry's answer is unusable."""
        try:
            return self._with_retries(lambda: self.registry.head_digest(ref))
        except TransferError as error:
            if error.kind != "unknown":
                raise
            return self._with_retries(lambda: self.copier.inspect_digest(ref))

    def sync(self, item: SyncItem) -> SyncResult:
        started = time.monotonic()
        try:
            result = self._sync(item)
        except TransferError as error:
            result = SyncResult(item.source, item.target, "failed", error=error,
                                platforms=item.platforms)
        result.elapsed = time.monotonic() - started
        return result

    def sync_all(self, items: Sequence[SyncItem], jobs: int = 1,
                 on_done: Callable[[SyncResult], None] | None = None) -> list[SyncResult]:
        def run(item: SyncItem) -> SyncResult:
            result = self.sync(item)
            if on_done:
                on_done(result)
            return result

        if jobs <= 1 or len(items) <= 1:
            return [run(item) for item in items]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(run, items))

    # -- one image ----------------------------------------------------------------------------

    def _source_digest(self, source: Reference) -> str:
        if source.digest:
            return source.digest
        digest = self._digest(source)
        if digest is None:
            raise _not_found(source)
        return digest

    def _sync(self, item: SyncItem) -> SyncResult:
        if item.platforms:
            return self._sync_platforms(item)
        source, target = item.source, item.target
        if source.digest:
            digest, current = source.digest, self._digest(target)
        else:
            upstream, current = self._digests([source, target])
            if upstream is None:
                raise _not_found(source)
            digest = upstream
        if current == digest:
            return SyncResult(source, target, "unchanged", digest)
        pinned = source.with_digest(digest)
        size = self._check_size(pinned)
        self._with_retries(lambda: self.copier.copy(pinned, target))
        tags = signature_tags(digest)
        mirrored, *signatures = self._digests(
            [target, *(source.with_tag(tag) for tag in tags)])
        if mirrored != digest:
            raise _mismatch(target, mirrored, digest)
        copied = self._copy_signatures(source, target, dict(zip(tags, signatures, strict=True)))
        return SyncResult(source, target, "copied", digest, signatures=copied, size=size)

    def _verify(self, target: Reference, expected: str) -> None:
        actual = self._digest(target)
        if actual != expected:
            raise _mismatch(target, actual, expected)

    def _manifest(self, ref: Reference) -> Manifest:
        manifest = self._with_retries(lambda: self.registry.get_manifest(ref))
        if manifest is None:
            raise TransferError("not_found", f"{ref} disappeared upstream during the sync")
        return manifest

    def _check_size(self, pinned: Reference) -> int | None:
        if self.max_size is None:
            return None
        manifest = self._manifest(pinned)
        children = [manifest]
        if manifest.is_index:
            children = [self._manifest(pinned.with_digest(entry["digest"]))
                        for entry in manifest.entries()]
        size = sum(image_size(child) for child in children)
        if size > self.max_size:
            raise TransferError("too_large", f"{pinned.name} is {human_size(size)} over all platforms, "
                                             f"above this mirror's limit of {human_size(self.max_size)}; "
                                             "ask for fewer platforms with --platform=os/arch")
        return size

    def _copy_signatures(self, source: Reference, target: Reference,
                         found: dict[str, str | None]) -> list[str]:
        """Copy the cosign-style signature tags that upstream has (`found`: tag -> digest)."""
        copied = []
        for tag, signature_digest in found.items():
            if signature_digest is None:
                continue
            signature_target = target.with_tag(tag)
            if self._digest(signature_target) != signature_digest:
                pinned = source.with_tag(tag).with_digest(signature_digest)
                self._with_retries(lambda p=pinned, t=signature_target: self.copier.copy(p, t))
                self._verify(signature_target, signature_digest)
            copied.append(str(signature_target))
        return copied

    def _sync_platforms(self, item: SyncItem) -> SyncResult:
        source, target = item.source, item.target
        pinned = source.with_digest(self._source_digest(source))
        upstream = self._manifest(pinned)
        if not upstream.is_index:
            # A single-platform image has nothing to select: copy it whole, digest preserved.
            return self._sync(SyncItem(source, target))
        chosen, missing = select_platforms(upstream.entries(), item.platforms)
        if missing:
            available = sorted({str(p) for p in upstream.platforms()})
            raise TransferError("platform_unavailable",
                                f"{source} has no {', '.join(map(str, missing))} image (it has: "
                                f"{', '.join(available)})")
        subset = subset_index(upstream, chosen)
        if self._digest(target) == subset.digest:
            return SyncResult(source, target, "unchanged", subset.digest, platforms=item.platforms,
                              note=SUBSET_NOTE)
        for entry in chosen:
            child_source = pinned.with_digest(entry["digest"])
            child_target = Reference(target.registry, target.repository, None, entry["digest"])
            self._with_retries(lambda s=child_source, t=child_target: self.copier.copy(
                s, t, all_platforms=False))
        destination = target if target.tag else Reference(target.registry, target.repository,
                                                          None, subset.digest)
        self._with_retries(lambda: self.registry.put_manifest(destination, subset))
        self._verify(destination, subset.digest)
        return SyncResult(source, destination, "copied", subset.digest, platforms=item.platforms,
                          note=SUBSET_NOTE)


def _not_found(source: Reference) -> TransferError:
    return TransferError("not_found", f"{source} does not exist upstream (check the name and tag "
                                      "on the source registry)")


def _mismatch(target: Reference, actual: str | None, expected: str) -> TransferError:
    return TransferError("digest_mismatch", f"the mirror serves {actual or 'nothing'} for {target}, "
                                            f"expected {expected}; not recorded as mirrored")


