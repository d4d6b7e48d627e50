"""Look up -> compare -> copy -> verify, for one image or many.

Rule: an image is `unchanged` when the mirror's digest (one manifest HEAD) equals the source's
(one manifest HEAD), and then nothing is copied and no manifest is GET from upstream. Otherwise
its manifests are read upstream by digest (each once per process) and copied with digests
preserved (bot/copy/engine.py: an index's platforms at once, their blobs staged first: known
ones mounted, large ones in ranges, small ones whole), and it is reported `copied` only after
the mirror answers with upstream's digest. Further addresses (Docker Hub's short form, other
mirrors) are written from the primary once it serves the image (bot/copy/addresses.py).
`name:tag@digest` writes the tag only while upstream's tag still resolves to that digest. A
platform selection writes a smaller, annotated index whose digest differs from upstream's by
design, and never narrows a tag mirrored whole (bot/copy/platforms.py): the tag is read before
the copy and again just before the index is written. With settings.max_request_size the images
of one `sync_all` are one request, whose copies together move at most that many bytes. HTTP
requests are retried by the transport; this module retries only skopeo, which the transport
cannot.

The source's pull quota is respected (bot/registry/quota.py): every manifest GET an image
causes is counted for it (`pulls`). The index is read only while the quota leaves 1 + the
entries its record last saw (UNKNOWN_ENTRIES when none did), and after it is read the platforms
only while what is left covers them; what an image reserved and did not read goes back when it
ends. An image the quota stops — too few pulls left, or a 429 from the source at any point,
skopeo's included — is `deferred` with the time it may be read again, and is not tried again in
this run (nor retried: a 429 is never asked twice). skopeo reading a manifest from the source is
a pull too, counted where it is started (`_skopeo_copy`).

What travels with an image — its OCI 1.1 referrers and cosign's tags — is copied once the image
is verified at the mirror (bot/copy/referrers.py): for the top digest and each platform copied
(a subset: its platforms only). An image already current gets the no-op check: the top digest's
referrer set read again (a referrers GET or the tag schema's HEAD, and cosign's tag HEADs) and
compared with the record's; only a different set, or a record marked incomplete, copies more.
Nothing there changes the image's status: what could not come along marks the result
`referrers_incomplete`, quota refusals included (never `deferred`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar

from bot import timestamps
from bot.copy.addresses import AddressWriter
from bot.copy.engine import BlobStager, CopyEngine, Part
from bot.copy.lookup import Lookups, Resolved
from bot.copy.model import SERVING, Artifact, Copier, Registry, SyncItem, SyncResult
from bot.copy.platforms import REPLACED_SUBSET_NOTE, plan_subset, refuse_narrowing
from bot.copy.referrers import Carried, ReferrerCopier, said
from bot.copy.settings import DEFAULT_COPY_PROCESSES, MIN_LOOKUPS
from bot.errors import ErrorKind, TransferError
from bot.image import referrers as referrer_rules
from bot.image.oci import Manifest, blobs, human_size, image_size, select_platforms
from bot.image.platform import InvalidPlatform, Platform
from bot.image.reference import Reference, parse
from bot.messages import message
from bot.registry import quota
from bot.registry.backoff import Backoff
from bot.registry.quota import Meter, MeteredExecutor, QuotaRefusal, TooManyRequests

T = TypeVar("T")
UNKNOWN_ENTRIES = 10  # index entries assumed when no record saw the image's index


@dataclass
class _Started:
    """An image begun by `size_of`: its meter and look-ups, kept for its sync."""

    meter: Meter = field(default_factory=Meter)
    resolved: Resolved | None = None
    deferred: QuotaRefusal | None = None  # the quota stopped it: the sync does not try again


@dataclass
class Syncer:
    """Syncs images with a registry client for look-ups and a copier (skopeo) for bytes."""

    registry: Registry
    copier: Copier
    retry: Backoff = field(default_factory=Backoff)
    max_size: int | None = None
    sleep: Callable[[float], None] = time.sleep
    # Stages large and known blobs before skopeo runs; None: skopeo moves every blob itself.
    staging: BlobStager | None = None
    copy_processes: int = DEFAULT_COPY_PROCESSES
    clock: Callable[[], datetime] = timestamps.now  # when a deferred image may resume
    lookups_in_flight: int = MIN_LOOKUPS  # bot/copy/settings.py's lookups_in_flight(jobs)
    # What travels with an image (settings.referrers, referrer_types and the bounds).
    referrer_selection: referrer_rules.Selection = field(default_factory=referrer_rules.Selection)
    referrer_bounds: referrer_rules.Bounds = field(default_factory=referrer_rules.Bounds)
    _lookups: Lookups = field(init=False, repr=False)
    _engine: CopyEngine = field(init=False, repr=False)
    _addresses: AddressWriter = field(init=False, repr=False)
    # What size_of began (two HEADs, the manifests read), kept for the sync that follows it.
    _started: dict[tuple[str, str, tuple[Platform, ...]], _Started] = field(
        init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._lookups = Lookups(self.registry, self._inspect_digest, self.lookups_in_flight)
        self._engine = CopyEngine(self._skopeo_copy, self.registry, self.staging,
                                  self.copy_processes)
        self._addresses = AddressWriter(self.registry, self._lookups, self._engine, self._record,
                                        self._verify)

    # -- public API ---------------------------------------------------------------------------

    def sync(self, item: SyncItem) -> SyncResult:
        result = self._sync_timed(item)
        self._save_locations()
        return result

    def sync_all(self, items: Sequence[SyncItem], jobs: int = 1,
                 on_done: Callable[[SyncResult], None] | None = None,
                 request_limit: int | None = None) -> list[SyncResult]:
        """Sync `items`, `jobs` at a time; with `request_limit` (settings.max_request_size) they
        are one request, whose copies together may move at most that many bytes."""
        budget = RequestBudget(request_limit) if request_limit is not None else None

        def run(item: SyncItem) -> SyncResult:
            result = self._sync_timed(item, budget)
            if on_done:
                on_done(result)
            return result

        try:
            if jobs <= 1 or len(items) <= 1:
                return [run(item) for item in items]
            with MeteredExecutor(max_workers=jobs) as pool:
                return list(pool.map(run, items))
        finally:
            self._save_locations()

    def size_of(self, item: SyncItem) -> int | None:
        """Bytes (configs and layers) a sync of `item` would move now: 0 when the mirror is
        current, None when it cannot be told. The manifests read are kept for the sync, and so
        are the pulls they spent, or the quota's refusal."""
        started = self._started.setdefault(_key(item), _Started())
        with quota.metering(started.meter):
            try:
                resolved = started.resolved = self._lookups.resolve(item)
                if not item.platforms and resolved.current == resolved.pinned.digest:
                    return 0
                top = self._read_top(item, resolved.pinned)
                entries = None
                if item.platforms and top.is_index:
                    entries = select_platforms(top.entries(), item.platforms)[0]
                parts = self._read_parts(resolved.pinned, top, resolved.destination, entries)
            except QuotaRefusal as error:
                started.deferred = self._refused(item, error)
                return None
            except TransferError:
                return None
            finally:
                started.meter.release()
        return sum(image_size(part.manifest) for part in parts)

    # -- retries (of skopeo: HTTP is retried by the transport) --------------------------------

    def _with_retries(self, action: Callable[[], T]) -> T:
        # A 429 is never asked again: at a source it is the quota, spent until later.
        return self.retry.run(action, lambda error: error.transient and (
            error.kind is not ErrorKind.RATE_LIMITED), self.sleep)

    # -- the source's pull quota ----------------------------------------------------------------

    def _read_top(self, item: SyncItem, pinned: Reference) -> Manifest:
        """The manifest at `pinned`, read only while the quota leaves room for it and for the
        entries the record last saw."""
        meter = quota.current()
        if meter is not None and str(pinned.digest) not in meter.read:
            expected = UNKNOWN_ENTRIES if item.entries is None else item.entries
            meter.at(self.registry.quota(pinned)).need(1 + expected)
        top = self._lookups.manifest(pinned)
        if meter is not None:
            meter.read.add(str(pinned.digest))
            if not top.is_index:  # nothing more to read: what it held goes back now
                meter.at(self.registry.quota(pinned)).need(0)
        return top

    def _read_parts(self, pinned: Reference, top: Manifest, destination: Reference,
                    entries: list[dict[str, Any]] | None = None) -> list[Part]:
        """The parts to copy, their manifests read only while the quota covers them all."""
        meter = quota.current()
        if meter is not None:
            chosen = (top.entries() if entries is None else entries) if top.is_index else []
            unread = {str(entry.get("digest")) for entry in chosen} - meter.read
            meter.at(self.registry.quota(pinned)).need(len(unread))
        parts = self._lookups.parts(pinned, top, destination, entries)
        if meter is not None:
            meter.read.update(str(part.manifest.digest) for part in parts)
            # Read (or found read by another image): nothing is held while the blobs copy.
            meter.at(self.registry.quota(pinned)).need(0)
        return parts

    def _refused(self, item: SyncItem, error: QuotaRefusal) -> QuotaRefusal:
        """The quota's refusal, with the seconds until the source may be read again."""
        if error.retry_after is None:
            error.retry_after = self.registry.quota(_source(item)).wait_for(1)
        return error

    def _inspect_digest(self, ref: Reference) -> str | None:
        """skopeo inspect (when a registry's HEAD answer is unusable): it GETs the manifest."""
        digest = self._with_retries(lambda: self.copier.inspect_digest(ref))
        if not self.registry.at_mirror(ref):
            quota.charge(self.registry.quota(ref))
        return digest

    # -- one image ----------------------------------------------------------------------------

    def _sync_timed(self, item: SyncItem, budget: RequestBudget | None = None) -> SyncResult:
        started = time.monotonic()
        begun = self._started.pop(_key(item), None) or _Started()
        with quota.metering(begun.meter):
            result = self._sync_metered(item, begun, budget)
        result.pulls = begun.meter.pulls
        result.elapsed = time.monotonic() - started
        return result

    def _sync_metered(self, item: SyncItem, begun: _Started,
                      budget: RequestBudget | None) -> SyncResult:
        # What each further tag serves now, in the same round as the first look-ups (a failure
        # there is that address's, told by write); writing ahead never moves a tag.
        peeks = {target: self._lookups.submit(self._lookups.digest, target)
                 for target in item.also if target.tag}
        try:
            if begun.deferred is not None:
                raise begun.deferred
            resolved = begun.resolved or self._lookups.resolve(item)
            result = (self._sync_subset(item, resolved, budget) if item.platforms
                      else self._sync_whole(item, resolved, budget))
        except QuotaRefusal as error:
            error = self._refused(item, error)
            resume = self.clock() + timedelta(seconds=error.retry_after or 0)
            result = SyncResult(item.source, item.target, "deferred", error=error,
                                platforms=item.platforms,
                                resume_after=timestamps.to_text(resume))
        except TransferError as error:
            result = SyncResult(item.source, item.target, "failed", error=error,
                                platforms=item.platforms)
        finally:
            begun.meter.release()
        if item.also and result.status in SERVING and result.target and result.digest:
            result.also = self._addresses.write(
                result.target, result.digest, item.also, platforms=item.platforms,
                current={ref: peek.result() for ref, peek in peeks.items()
                         if peek.exception() is None})
        return result

    def _sync_whole(self, item: SyncItem, resolved: Resolved,
                    budget: RequestBudget | None = None) -> SyncResult:
        pinned, destination = resolved.pinned, resolved.destination
        digest = str(pinned.digest)
        if resolved.current == digest:
            result = SyncResult(item.source, item.target, "unchanged", digest)
            self._check_referrers(item, pinned, destination, result)
            if item.describe:
                result.artifact = self._artifact(destination.with_digest(digest))
            return result
        previous = (self._lookups.submit(self.registry.get_manifest, destination)
                    if resolved.current else None)
        top = self._read_top(item, pinned)
        parts = self._read_parts(pinned, top, destination)
        size = self._check_size(pinned, parts, budget)
        self._engine.copy(parts, (destination, top) if top.is_index else None,
                          self._addresses.ahead(destination, item.also))
        self._verify(destination, digest)
        self._record(destination, parts)
        result = SyncResult(item.source, item.target, "copied", digest, size=size,
                            note=REPLACED_SUBSET_NOTE if _held_subset(previous) else None,
                            served=served_platforms(top), entries=_entry_count(top),
                            artifact=_artifact_of(top))
        self._carry(result, pinned, destination, digest, _platform_digests(top, top.entries()))
        return result

    def _sync_subset(self, item: SyncItem, resolved: Resolved,
                     budget: RequestBudget | None) -> SyncResult:
        upstream = self._read_top(item, resolved.pinned)
        if not upstream.is_index:
            # A single-platform image has nothing to select: copy it whole, digest preserved.
            return self._sync_whole(replace(item, platforms=()), resolved, budget)
        destination = resolved.destination
        existing = (self.registry.get_manifest(destination)
                    if destination.tag and resolved.current else None)
        plan = plan_subset(upstream, item.platforms, existing, resolved.pinned, destination)
        digest = plan.index.digest
        if not destination.tag:  # a digest-only request: the new index lives at its own digest
            destination = destination.with_digest(digest)
        current = resolved.current if destination.tag else self._lookups.digest(destination)
        result = SyncResult(item.source, destination, "unchanged", digest,
                            platforms=item.platforms, note=plan.note,
                            served=served_platforms(plan.index), entries=_entry_count(upstream),
                            artifact="image")
        # A subset index is ours: what hangs off upstream's index points at nothing here, and
        # only the platforms' referrers come along.
        platforms = _platform_digests(upstream, plan.chosen)
        if current == digest:
            if item.referrers_incomplete:  # an earlier copy left some out: try them again
                self._carry(result, resolved.pinned, destination, "", platforms)
            return result
        parts = self._read_parts(resolved.pinned, upstream, destination, plan.chosen)
        result.size = self._check_size(resolved.pinned, parts, budget)
        self._engine.copy(parts)
        if destination.tag:
            # Mirrored whole since it was read (another run)? Asked again just before the index
            # is written: distribution has no conditional PUT, so this narrows the race without
            # closing it, and resync gives back the platforms of a tag narrowed in between.
            refuse_narrowing(self.registry.get_manifest(destination), destination, item.platforms)
        self.registry.put_manifest(destination, plan.index)
        self._verify(destination, digest)
        self._record(destination, parts)
        result.status = "copied"
        self._carry(result, resolved.pinned, destination, "", platforms)
        return result

    # -- what travels with an image -------------------------------------------------------------

    @cached_property
    def _referrers(self) -> ReferrerCopier:
        # Made when first needed (the client's referrers learn what each registry keeps).
        return ReferrerCopier(self.registry, self._lookups, self.registry.referrers(),
                              self.referrer_selection, self.referrer_bounds,
                              lambda source, to: self._skopeo_copy(source, to, True))

    def _carry(self, result: SyncResult, source: Reference, destination: Reference, top: str,
               platforms: Sequence[str]) -> None:
        """Copy what hangs off `top` and `platforms` (verified at the mirror) into `result`."""
        try:
            carried = self._referrers.copy(source, destination, top, platforms)
        except TransferError as error:  # the quota's refusal too: never the image's status
            carried = Carried()
            carried.short(error.message)
        _tell(result, carried)

    def _check_referrers(self, item: SyncItem, pinned: Reference, destination: Reference,
                         result: SyncResult) -> None:
        """An image already current: read the top digest's referrer set again and copy only
        when it is not the one the record holds; a record marked incomplete copies again, the
        platforms' too (their digests from the index, one read)."""
        digest = str(pinned.digest)
        try:
            if item.referrers_incomplete:
                top = self._lookups.manifest(pinned)
                self._carry(result, pinned, destination, digest,
                            _platform_digests(top, top.entries()) if top.is_index else [])
                return
            upstream = self._referrers.check(pinned, digest)
        except TransferError as error:
            carried = Carried()
            carried.short(error.message)
            _tell(result, carried)
            return
        result.referrer_set = upstream
        if upstream != item.referrers:
            self._carry(result, pinned, destination, digest, [])

    def _artifact(self, ref: Reference) -> Artifact | None:
        """What the mirror serves at `ref` (one GET there, no pull): image, chart, artifact."""
        try:
            manifest = self.registry.get_manifest(ref)
        except TransferError:
            return None
        return _artifact_of(manifest) if manifest is not None else None

    def _skopeo_copy(self, source: Reference, destination: Reference, all_platforms: bool) -> None:
        """skopeo copies `source`; reading it from a source registry is a pull (its manifest:
        one; a nested index's children are not counted), and a 429 there is the quota's."""
        from_source = not self.registry.at_mirror(source)
        try:
            self._with_retries(lambda: self.copier.copy(source, destination,
                                                        all_platforms=all_platforms))
        except TransferError as error:
            if from_source and error.kind is ErrorKind.RATE_LIMITED:
                ledger = self.registry.quota(source)
                raise TooManyRequests(error.message, ledger.exhausted(error.retry_after)) \
                    from error
            raise
        finally:
            if from_source:
                quota.charge(self.registry.quota(source))

    def _verify(self, target: Reference, expected: str) -> None:
        actual = self._lookups.digest(target)
        if actual != expected:
            raise _mismatch(target, actual, expected)

    def _check_size(self, pinned: Reference, parts: Sequence[Part],
                    budget: RequestBudget | None = None) -> int:
        size = sum(image_size(part.manifest) for part in parts)
        if self.max_size is not None and size > self.max_size:
            raise TransferError(ErrorKind.TOO_LARGE, message(
                "%(name)s is %(size)s over all platforms, above this mirror's limit of %(limit)s; "
                "ask for fewer platforms with --platform=os/arch", name=pinned.name,
                size=human_size(size), limit=human_size(self.max_size)))
        if budget is not None:
            budget.take(pinned, size)
        return size

    def _record(self, destination: Reference, parts: Sequence[Part]) -> None:
        """After a verified copy only: the mirror now holds these blobs in this repository."""
        if self.staging is not None and self.staging.locations is not None:
            self.staging.locations.record(destination.registry, destination.repository,
                                  {blob.digest for part in parts for blob in blobs(part.manifest)})

    def _save_locations(self) -> None:
        if self.staging is not None and self.staging.locations is not None:
            # A hint for later runs: losing it costs a fetch, not a failure.
            with contextlib.suppress(OSError):
                self.staging.locations.save()


@dataclass
class RequestBudget:
    """The bytes one request may still copy (settings.max_request_size), its images together:
    each copy takes its size before it starts, and one that would pass the limit is refused."""

    limit: int
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, pinned: Reference, size: int) -> None:
        with self._lock:
            if self.used + size > self.limit:
                raise TransferError(ErrorKind.TOO_LARGE, message(
                    "%(name)s is %(size)s, and with the other images of this request that is "
                    "above this mirror's limit of %(limit)s per request; ask for fewer images or "
                    "platforms in each request", name=pinned.name, size=human_size(size),
                    limit=human_size(self.limit)))
            self.used += size


def served_platforms(manifest: Manifest) -> tuple[Platform, ...]:
    """The platforms an index serves, each once, written as `Platform.parse` writes them;
    entries that name no real platform (an attestation's unknown/unknown) are not one. Empty
    for a single image, whose platform is in its config, which the sync does not read."""
    found: list[Platform] = []
    for platform in manifest.platforms():
        try:
            parsed = Platform.parse(str(platform))
        except InvalidPlatform:
            continue
        if parsed not in found:
            found.append(parsed)
    return tuple(found)


def _platform_digests(top: Manifest, entries: Sequence[dict[str, Any]]) -> list[str]:
    """The digests of `entries` that are platforms (an attestation's unknown/unknown is none)."""
    if not top.is_index:
        return []
    found = []
    for entry in entries:
        platform = entry.get("platform")
        if isinstance(platform, dict) and platform.get("os") != "unknown" \
                and isinstance(entry.get("digest"), str):
            found.append(entry["digest"])
    return found


def _artifact_of(manifest: Manifest) -> Artifact:
    if referrer_rules.is_chart(manifest):
        return "chart"
    return "artifact" if referrer_rules.is_artifact(manifest) else "image"


def _tell(result: SyncResult, carried: Carried) -> None:
    """What came along, into the result (a second copy adds to a first's)."""
    result.signatures = [*result.signatures, *(t for t in carried.tags if t not in result.signatures)]
    for artifact_type, count in carried.counts.items():
        result.referrers[artifact_type] = result.referrers.get(artifact_type, 0) + count
    result.referrer_set = carried.digest if carried.top or result.referrer_set is None \
        else result.referrer_set
    result.referrers_incomplete = result.referrers_incomplete or carried.incomplete
    result.referrer_gaps = [*result.referrer_gaps, *carried.reasons]
    if carried.kinds.get(referrer_rules.Kind.SIGNATURE):
        result.signed = True
    elif result.status == "copied":
        result.signed = bool(result.signed)
    result.came_along = said(carried.kinds) or result.came_along


def _key(item: SyncItem) -> tuple[str, str, tuple[Platform, ...]]:
    return str(item.source), str(item.target), item.platforms


def _source(item: SyncItem) -> Reference:
    return item.source if isinstance(item.source, Reference) else parse(item.source)


def _entry_count(top: Manifest) -> int:
    """The entries of an index (attestations included), 0 for a single image's manifest."""
    return len(top.entries()) if top.is_index else 0


def _held_subset(previous: Future[Manifest | None] | None) -> bool:
    """Whether the manifest the mirror served before the copy was a platform subset."""
    try:
        manifest = previous.result() if previous is not None else None
    except TransferError:
        return False  # only the note depends on it
    return manifest is not None and manifest.is_platform_subset


def _mismatch(target: Reference, actual: str | None, expected: str) -> TransferError:
    if actual is None:
        return TransferError(ErrorKind.DIGEST_MISMATCH, message(
            "the mirror serves nothing for %(target)s, expected %(expected)s; not recorded as "
            "mirrored", target=target, expected=expected))
    return TransferError(ErrorKind.DIGEST_MISMATCH, message(
        "the mirror serves %(actual)s for %(target)s, expected %(expected)s; not recorded as "
        "mirrored", actual=actual, target=target, expected=expected))
