"""What travels with an image: its OCI 1.1 referrers and cosign's tags, copied once the image
itself is verified at the mirror.

Rule: the subjects are the digests just verified — the top digest and each platform manifest
copied (for a platform subset only the platforms: the subset index is ours, and upstream's index
and its referrers point at nothing on the mirror). For each subject, in this order:
- cosign's tags `<alg>-<hex>.sig`/`.att`/`.sbom` that the settings keep: a HEAD upstream and
  one at the mirror each (free); a GET only for a tag the mirror lacks or serves otherwise;
- its referrers, listed by the referrers API or the tag schema (bot/registry/referrers.py), each
  kept type read once by digest (a pull), copied only when its bytes name the subject
  (`subject.digest`), its blobs staged, put by digest (one its bytes and blobs cannot make
  whole — an index, foreign layers — is skopeo's to copy, digest kept); then its own
  referrers in turn, to the depth the settings allow. A mirror that answers `OCI-Subject`
  keeps its referrers API itself; for one that does not, the subject's tag-schema index at the
  mirror is merged with those put.
One Budget per image bounds the count, the bytes and the depth. Nothing here fails an image: a
referrer that cannot be copied (a bound reached, a listing or bytes that do not check, a
failure, the quota spent) leaves the result `incomplete`, which the record keeps and resync
retries. The image's referrer set (what its no-op check compares) is the top digest's, as
upstream lists it: its cosign tags' digests and the API's descriptors, or on a registry without
the API the tag schema index's own digest (upstream's: the same digest, the same listing, told by
a HEAD, no pull) — in one `set_digest`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bot.errors import TransferError
from bot.image import referrers as rules
from bot.image.oci import Manifest, blobs, whole_by_blobs
from bot.image.reference import Reference
from bot.image.referrers import Budget, Descriptor, Kind, Selection
from bot.messages import Message, message
from bot.registry.referrers import Listing, Referrers

A = TypeVar("A")
T = TypeVar("T")


class Registry(Protocol):
    """What copying referrers asks of the registry client."""

    def head_digest(self, ref: Reference) -> str | None: ...
    def put_manifest(self, ref: Reference, manifest: Manifest) -> str: ...
    def stage_blob(self, source: Reference, target: Reference, digest: str, size: int, *,
                   chunk_size: int, parallel: int) -> str: ...


class ManifestReader(Protocol):
    """Manifests by digest, each read once and checked against its digest, and look-ups run
    at once (copy/lookup.py)."""

    def manifest(self, ref: Reference) -> Manifest: ...
    def each(self, action: Callable[[A], T], items: Sequence[A]) -> list[T]: ...


@dataclass
class Carried:
    """What came along with one image."""

    copied: list[tuple[str, str]] = field(default_factory=list)  # (artifact type, digest)
    kinds: dict[Kind, int] = field(default_factory=dict)  # what they are, for people
    tags: list[str] = field(default_factory=list)  # cosign's tags at the mirror
    # What upstream lists of the top digest: cosign's tags, and the API's descriptors or the
    # tag schema index's digest (bot/copy/referrers.py's `check` reads the same again).
    top: set[str] = field(default_factory=set)
    incomplete: bool = False
    reasons: list[str] = field(default_factory=list)  # why incomplete, for logs and --json
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, artifact_type: str, digest: str, kind: Kind) -> None:
        with self._lock:
            if all(d != digest for _, d in self.copied):
                self.copied.append((artifact_type, digest))
                self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def mark(self, digests: set[str]) -> None:
        """Part of the top digest's set: what upstream lists there, copied or not."""
        with self._lock:
            self.top |= digests

    def short(self, reason: str) -> None:
        with self._lock:
            self.incomplete = True
            self.reasons.append(reason)

    @property
    def counts(self) -> dict[str, int]:
        """How many of each artifact type (`sync --json`'s `referrers`)."""
        return rules.count_by_type([kind for kind, _ in self.copied])

    @property
    def digest(self) -> str | None:
        """The image's referrer set, as its no-op check reads it again (the top digest's)."""
        return rules.set_digest(self.top)


def said(kinds: dict[Kind, int]) -> Message | None:
    """What came along, for people: "2 signatures, 1 SBOM"; None for nothing."""
    parts = []
    for kind in (Kind.SIGNATURE, Kind.ATTESTATION, Kind.SBOM, Kind.OTHER):
        count = kinds.get(kind, 0)
        if count == 1:
            parts.append({Kind.SIGNATURE: message("%(count)s signature", count=1),
                          Kind.ATTESTATION: message("%(count)s attestation", count=1),
                          Kind.SBOM: message("%(count)s SBOM", count=1),
                          Kind.OTHER: message("%(count)s other artifact", count=1)}[kind])
        elif count > 1:
            parts.append({Kind.SIGNATURE: message("%(count)s signatures", count=count),
                          Kind.ATTESTATION: message("%(count)s attestations", count=count),
                          Kind.SBOM: message("%(count)s SBOMs", count=count),
                          Kind.OTHER: message("%(count)s other artifacts", count=count)}[kind])
    if not parts:
        return None
    first, *rest = parts
    for then in rest:
        first = message("%(first)s, %(then)s", first=first, then=then)
    return first


@dataclass(frozen=True)
class _Probed:
    """What `_probe` read upstream for one subject: each cosign tag's digest (None: no such
    tag) and the referrers listing, or the error that answered instead."""

    tags: dict[str, object]
    listing: object


@dataclass
class _Run:
    """One image's copy: from where, to where, what it may still spend, what came along."""

    source: Reference
    target: Reference
    budget: Budget
    carried: Carried


@dataclass
class ReferrerCopier:
    """Copies an image's referrers and cosign tags from a source repository to the mirror's."""

    registry: Registry
    manifests: ManifestReader
    referrers: Referrers
    selection: Selection = field(default_factory=Selection)
    bounds: rules.Bounds = field(default_factory=rules.Bounds)
    # skopeo, for a manifest its bytes and blobs cannot make whole (source by digest, to)
    copy_whole: Callable[[Reference, Reference], None] | None = None
    chunk_size: int = 8 << 20

    def copy(self, source: Reference, target: Reference, top: str,
             platforms: Sequence[str] = ()) -> Carried:
        """Copy what hangs off `top` (when it is upstream's digest: not for a subset's own index,
        given as "") and off each of `platforms`, from `source`'s repository to `target`'s."""
        carried = Carried()
        if self.selection.keep is rules.Keep.NONE:
            return carried
        budget = Budget(self.bounds)
        run = _Run(source, target, budget, carried)
        subjects = ([top] if top else []) + list(platforms)
        probed = self._probe(source, subjects)
        for subject in subjects:
            self._subject(run, subject, 1, of_top=subject == top, probed=probed[subject])
        if budget.refused:
            carried.short(f"{budget.refused} referrers past the bounds (depth "
                          f"{self.bounds.max_depth}, {self.bounds.max_count} referrers, "
                          f"{self.bounds.max_bytes} bytes)")
        return carried

    def check(self, source: Reference, top: str) -> str | None:
        """The no-op check: the top digest's referrer set upstream, as `Carried.digest` writes
        it (None for none), all at once: cosign's tags by their HEADs, and the referrers by the
        API's listing or, on a registry without it, the tag schema index's HEAD — no pull."""
        if self.selection.keep is rules.Keep.NONE:
            return None

        def tag(name: str) -> set[str]:
            digest = self.registry.head_digest(source.with_tag(name))
            return set() if digest is None else {digest}

        def listed(_: str) -> set[str]:
            return self._marks(self.referrers.marker(source, top, max_count=self.bounds.max_count))

        probes: list[tuple[Callable[[str], set[str]], str]] = [
            (tag, name) for name in rules.cosign_tags(top, self.selection)]
        probes.append((listed, top))
        found: set[str] = set().union(*self.manifests.each(lambda probe: probe[0](probe[1]), probes))
        return rules.set_digest(found)

    def _marks(self, listing: Listing) -> set[str]:
        """What stands for a listing in the top digest's set: the descriptors the API lists
        (of kept types), or the digest of the tag schema's index (which its HEAD tells)."""
        if listing.by_api:
            return {d.digest for d in listing.descriptors if self.selection.keeps(d.artifact_type)}
        return {listing.tag_digest} if listing.tag_digest else set()

    # -- one subject ----------------------------------------------------------------------------

    def _probe(self, source: Reference, subjects: list[str]) -> dict[str, _Probed]:
        """Every subject's cosign tags and referrers listing upstream, read in one round on the
        look-up threads (each is a HEAD, or the referrers API's GET): a signed image's
        platforms cost one round trip, not one per tag and subject."""
        asks: list[tuple[str, str | None]] = [
            (subject, tag) for subject in subjects
            for tag in [*rules.cosign_tags(subject, self.selection), None]]

        def ask(item: tuple[str, str | None]) -> object:
            subject, tag = item
            try:
                if tag is None:
                    return self.referrers.listed(source, subject, at_mirror=False,
                                                 max_count=self.bounds.max_count)
                return self.registry.head_digest(source.with_tag(tag))
            except TransferError as error:
                return error

        answers = dict(zip(asks, self.manifests.each(ask, asks), strict=True))
        return {subject: _Probed(
            {tag: answer for (of, tag), answer in answers.items() if of == subject and tag},
            answers[(subject, None)]) for subject in subjects}

    def _subject(self, run: _Run, subject: str, depth: int, *, of_top: bool,
                 probed: _Probed | None = None) -> None:
        source, target, carried = run.source, run.target, run.carried
        if probed is not None:  # a subject `copy` was given (depth 1): cosign's tags too
            self._cosign_tags(run, subject, probed.tags, of_top=of_top)
        try:
            listed = probed.listing if probed is not None else None
            if isinstance(listed, TransferError):
                raise listed
            listing = listed if isinstance(listed, Listing) else self.referrers.listed(
                source, subject, at_mirror=False, max_count=self.bounds.max_count)
        except TransferError as error:
            carried.short(f"referrers of {subject}: {error.message}")
            return
        if listing.truncated:
            carried.short(f"referrers of {subject}: more are listed than the bounds allow")
        if of_top:
            carried.mark(self._marks(listing))
        kept: list[Descriptor] = []  # at the mirror now: what its tag-schema index must list
        for descriptor in listing.descriptors:
            if not self.selection.keeps(descriptor.artifact_type):
                continue
            try:
                digest = self._referrer(run, subject, descriptor, depth)
            except TransferError as error:
                carried.short(f"{descriptor.digest}: {error.message}")
                continue
            if digest is None:
                continue
            kept.append(descriptor)
            carried.add(descriptor.artifact_type, digest, descriptor.kind)
            if depth < self.bounds.max_depth:  # deeper ones are not looked for
                self._subject(run, digest, depth + 1, of_top=False)
        if kept:
            try:
                if not self._mirror_keeps_referrers(target, subject):
                    self.referrers.add_to_tag_index(target, subject, kept)
            except TransferError as error:
                carried.short(f"the mirror's referrers index of {subject}: {error.message}")

    def _referrer(self, run: _Run, subject: str, descriptor: Descriptor, depth: int) -> str | None:
        """Make the mirror hold one listed referrer (its digest), unless a bound or its bytes
        say no (None, and said)."""
        source, target, budget, carried = run.source, run.target, run.budget, run.carried
        if self.registry.head_digest(target.with_digest(descriptor.digest)) == descriptor.digest:
            return descriptor.digest if budget.admits(depth) else None  # there: no read, no bytes
        if not budget.admits(depth, descriptor.size):
            return None
        manifest = self.manifests.manifest(source.with_digest(descriptor.digest))
        if not rules.refers_to(manifest, subject):
            carried.short(f"{descriptor.digest} is listed as a referrer of {subject} but names "
                          "another subject; not copied")
            return None
        if not budget.spend(rules.referrer_bytes(manifest) - len(manifest.body)):
            return None
        if whole_by_blobs(manifest):
            self._blobs(source, target, manifest)
            self.referrers.put(target, manifest)
        else:
            self._whole(source, target.with_digest(manifest.digest), manifest.digest)
        return manifest.digest

    def _mirror_keeps_referrers(self, target: Reference, subject: str) -> bool:
        """Whether the mirror keeps the referrers API (it said so on a PUT, or answers the API:
        asked once per run, at the mirror, costing no pull)."""
        host = self.referrers.conf.resolve(target).host
        if self.referrers.serves_api(host) is None:
            self.referrers.listed(target, subject, at_mirror=True, max_count=1)
        return bool(self.referrers.serves_api(host))

    def _cosign_tags(self, run: _Run, subject: str, found: dict[str, object], *,
                     of_top: bool) -> None:
        """`found`: what `_probe` read upstream for each tag (a digest, None, or its error)."""
        source, target, budget, carried = run.source, run.target, run.budget, run.carried
        for tag, artifact_type in rules.cosign_tags(subject, self.selection).items():
            try:
                answer = found[tag]
                if isinstance(answer, TransferError):
                    raise answer
                digest = answer if isinstance(answer, str) else None
                if digest is None:
                    continue
                if of_top:
                    carried.mark({digest})
                present = self.registry.head_digest(target.with_tag(tag)) == digest
                if not budget.admits(1):
                    continue
                if not present:
                    manifest = self.manifests.manifest(source.with_digest(digest))
                    if not budget.spend(rules.referrer_bytes(manifest)):
                        continue
                    if whole_by_blobs(manifest):
                        self._blobs(source, target, manifest)
                        written = self.registry.put_manifest(target.with_tag(tag), manifest)
                        if written != digest:
                            carried.short(f"{tag}: the mirror stored {written}, not {digest}")
                            continue
                    else:
                        self._whole(source, target.with_tag(tag), digest)
            except TransferError as error:
                carried.short(f"{tag}: {error.message}")
                continue
            carried.tags.append(str(target.with_tag(tag)))
            carried.add(artifact_type, digest, rules.kind_of(artifact_type))

    def _whole(self, source: Reference, destination: Reference, digest: str) -> None:
        """What its bytes and blobs alone cannot make whole at the mirror (an index, foreign
        layers): copied by skopeo, digest kept, then checked there."""
        if self.copy_whole is None:
            raise TransferError("unknown", f"{digest} is not a manifest the bot copies by its "
                                "blobs (an index, foreign layers or schema 1)")
        self.copy_whole(source.with_digest(digest), destination)
        found = self.registry.head_digest(destination)
        if found != digest:
            raise TransferError("digest_mismatch", f"{destination}: the mirror serves {found}, "
                                f"not {digest}")

    def _blobs(self, source: Reference, target: Reference, manifest: Manifest) -> None:
        """Make the mirror hold a referrer's blobs (a signature's few, an SBOM's one)."""
        for blob in blobs(manifest):
            self.registry.stage_blob(source, target, blob.digest, blob.size,
                                     chunk_size=self.chunk_size, parallel=1)
