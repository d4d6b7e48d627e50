"""OCI 1.1 referrers, cosign's tags and non-image artifacts: what travels with an image (pure).

Rule: a referrer is a manifest whose `subject.digest` names the manifest it is about; it is
copied only when that digest is the subject's, checked on the bytes read. Referrers are found
by the referrers API (an OCI index of descriptors) or, where a registry has none, under the
referrers tag schema: the tag `<alg>-<hex>` of the subject's digest holds such an index, kept by
its writers. Two indexes of one subject are compared as sets of descriptors (by digest), never
by their own digest: a merged index is other bytes. A merge keeps every descriptor already
there as it is (its `artifactType`, its annotations) and adds the ones missing, in order.
cosign's older convention tags `<alg>-<hex>.sig`, `.att` and `.sbom`; notation uses referrers
only. Neither those tags nor `<alg>-<hex>` are ever images to select.

What is kept follows the allowlist's `settings.referrers` (`all`, `signatures`, `none`) and
`referrer_types`; how much is read is bounded by `Bounds` (depth, count, bytes), spent from one
`Budget` per image, so a hostile upstream listing 10,000 referrers costs nothing beyond them.
Every descriptor read from a registry is checked before it is used; one that is not a
descriptor (no sha256 digest, no size, not a manifest) is left out and counted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bot.image.grammar import IDENTIFIER, SHA256, SHA256_DIGEST_RE, full
from bot.image.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Manifest, blobs

# -- media types ---------------------------------------------------------------------------------

# RFC 6838: type "/" subtype, each 1 to 127 of these characters; a parameter such as
# `;version=0.2` (sigstore's older bundle type) is allowed, as registries echo it.
MEDIA_TYPE_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
MEDIA_TYPE_RE = full(rf"{MEDIA_TYPE_NAME}/{MEDIA_TYPE_NAME}(?:;\s*[A-Za-z0-9._-]+=[A-Za-z0-9._-]+)*")
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
IMAGE_CONFIGS = frozenset({"application/vnd.oci.image.config.v1+json",
                           "application/vnd.docker.container.image.v1+json"})
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# Manifests that may be referrers (a referrer may be an index: a multi-platform attestation).
REFERRER_MEDIA_TYPES = frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST})

# cosign: the artifact types of its OCI 1.1 mode (`application/vnd.dev.cosign.artifact.<name>.v1
# +json`, cosign's internal/pkg/oci/remote ArtifactType) and of the sigstore bundles cosign v3
# attaches by default (specs/BUNDLE_SPEC.md: one type for message signatures and DSSE
# attestations alike, told apart by the `dev.sigstore.bundle.content` annotation).
COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_ATTESTATION = "application/vnd.dev.cosign.artifact.att.v1+json"
COSIGN_SBOM = "application/vnd.dev.cosign.artifact.sbom.v1+json"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"  # v0.1, v0.2 (`+json;version=`)
BUNDLE_CONTENT = "dev.sigstore.bundle.content"
# notation (notaryproject): referrers only, never tags.
NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature"
NOTATION_V2_SIGNATURE = "application/vnd.cncf.notary.v2.signature"  # before notation 1.0
SIGNATURE_TYPES = frozenset({COSIGN_SIGNATURE, SIGSTORE_BUNDLE, NOTATION_SIGNATURE,
                             NOTATION_V2_SIGNATURE})
SBOM_TYPES = frozenset({COSIGN_SBOM, "application/spdx+json", "text/spdx",
                        "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+xml",
                        "application/vnd.cyclonedx", "application/vnd.syft+json"})
ATTESTATION_TYPES = frozenset({COSIGN_ATTESTATION, "application/vnd.in-toto+json",
                               "application/vnd.dsse.envelope.v1+json"})

# -- tags ----------------------------------------------------------------------------------------

# What cosign's convention tags hold, named by cosign's own artifact types for them, so that
# `referrer_types` and the counts speak of tags and referrers alike.
SUFFIX_TYPES: Mapping[str, str] = {"sig": COSIGN_SIGNATURE, "att": COSIGN_ATTESTATION,
                                   "sbom": COSIGN_SBOM}
# The tag schema's `<alg>-<ref>` (the distribution spec: the algorithm cut to 32 characters, the
# encoded digest to 64, any character a tag may not hold written `-`). sha256 is what every
# digest here is; sha512 is the other algorithm OCI registers, and its tags are never images.
MAX_TAG_ALGORITHM, MAX_TAG_REF = 32, 64
TAG_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.-]")
REFERRERS_TAG = rf"(?:{SHA256}|sha512)-{IDENTIFIER}"
REFERRERS_TAG_RE = full(REFERRERS_TAG)
ARTIFACT_TAG_RE = full(rf"{REFERRERS_TAG}(?:\.(?:{'|'.join(SUFFIX_TYPES)}))?")

# -- bounds --------------------------------------------------------------------------------------

DEFAULT_MAX_DEPTH = 3  # image -> signature or SBOM -> its signature -> a countersignature
DEFAULT_MAX_COUNT = 100  # referrers and cosign tags copied with one image, all subjects together
DEFAULT_MAX_BYTES = 64 << 20  # their manifests and blobs together (SBOMs reach several MiB)
MAX_DEPTH = 8
MAX_COUNT = 1000
MAX_INDEX_BYTES = 4 << 20  # a referrers index or page read, as a manifest is bounded
MAX_ANNOTATIONS = 64  # per descriptor; more makes it no descriptor of ours to keep
MAX_ANNOTATION_BYTES = 8 << 10


class ReferrersError(ValueError):
    """Bytes that are not a referrers index."""


class Keep(Enum):
    """`settings.referrers`: which referrers travel with an image."""

    ALL = "all"
    SIGNATURES = "signatures"  # SIGNATURE_TYPES (cosign's, sigstore bundles, notation's) and .sig
    NONE = "none"


class Kind(Enum):
    """What an artifact is to the people reading the comment."""

    SIGNATURE = "signature"
    ATTESTATION = "attestation"
    SBOM = "sbom"
    OTHER = "other"


@dataclass(frozen=True)
class Selection:
    """Which artifact types are kept: `keep`, narrowed by `types` when given."""

    keep: Keep = Keep.ALL
    types: frozenset[str] | None = None

    def keeps(self, artifact_type: str) -> bool:
        if self.keep is Keep.NONE:
            return False
        if self.keep is Keep.SIGNATURES and not is_signature_type(artifact_type):
            return False
        return self.types is None or artifact_type in self.types

    def keeps_tag(self, suffix: str) -> bool:
        """Whether cosign's `<alg>-<hex>.<suffix>` tag is kept."""
        return suffix in SUFFIX_TYPES and self.keeps(SUFFIX_TYPES[suffix])


@dataclass(frozen=True)
class Bounds:
    """How far and how much one image's referrers are followed."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_count: int = DEFAULT_MAX_COUNT
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class Budget:
    """What one image has spent of its Bounds; a referrer is admitted only while it fits."""

    bounds: Bounds = field(default_factory=Bounds)
    count: int = 0
    bytes: int = 0
    refused: int = 0  # referrers left out by a bound: the image's referrers are incomplete

    def admits(self, depth: int, size: int = 0) -> bool:
        """Whether a referrer at `depth` (1: of the image itself) of `size` bytes fits; if it
        does, it is counted."""
        if depth > self.bounds.max_depth or self.count >= self.bounds.max_count \
                or self.bytes + size > self.bounds.max_bytes:
            self.refused += 1
            return False
        self.count += 1
        self.bytes += size
        return True

    def spend(self, size: int) -> bool:
        """Count `size` more bytes of an admitted referrer (its blobs, once read); False, and
        nothing counted, when they do not fit."""
        if self.bytes + size > self.bounds.max_bytes:
            self.refused += 1
            return False
        self.bytes += size
        return True


# -- descriptors and indexes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """One entry of a referrers index, as written there: `fields` is the whole JSON object,
    kept so a merge writes back exactly what another writer wrote."""

    digest: str
    media_type: str
    size: int
    artifact_type: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def parse(cls, entry: object) -> Descriptor | None:
        """The descriptor `entry` is, or None when it is none we may use."""
        if not isinstance(entry, dict):
            return None
        digest, media_type, size = entry.get("digest"), entry.get("mediaType"), entry.get("size")
        artifact_type = entry.get("artifactType", "")
        annotations = entry.get("annotations", {})
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_INDEX_BYTES:
            return None
        if not isinstance(artifact_type, str) or (artifact_type and not MEDIA_TYPE_RE.match(artifact_type)):
            return None
        if not (isinstance(digest, str) and SHA256_DIGEST_RE.match(digest)
                and media_type in REFERRER_MEDIA_TYPES and _annotations_ok(annotations)):
            return None
        return cls(digest, str(media_type), size, artifact_type, dict(annotations), dict(entry))

    @classmethod
    def of(cls, manifest: Manifest) -> Descriptor:
        """The descriptor a referrers index lists for `manifest` (the spec's: its artifact type
        and its own annotations)."""
        data = manifest.json()
        entry: dict[str, Any] = {"mediaType": manifest.media_type, "digest": manifest.digest,
                                 "size": len(manifest.body)}
        kind = artifact_type(manifest)
        if kind:
            entry["artifactType"] = kind
        annotations = data.get("annotations")
        if _annotations_ok(annotations) and annotations:
            entry["annotations"] = dict(annotations)
        return cls(manifest.digest, manifest.media_type, len(manifest.body), kind,
                   dict(entry.get("annotations", {})), entry)

    @property
    def kind(self) -> Kind:
        return kind_of(self.artifact_type, self.annotations)

    def json(self) -> dict[str, Any]:
        return dict(self.fields) or {"mediaType": self.media_type, "digest": self.digest,
                                     "size": self.size}


def _annotations_ok(annotations: object) -> bool:
    if not isinstance(annotations, dict) or len(annotations) > MAX_ANNOTATIONS:
        return False
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        return False
    return sum(len(k) + len(v) for k, v in annotations.items()) <= MAX_ANNOTATION_BYTES


@dataclass(frozen=True)
class ReferrersIndex:
    """An index of referrers: the descriptors it lists that we may use, in order, each digest
    once, and how many entries were left out as no descriptor."""

    descriptors: tuple[Descriptor, ...] = ()
    ignored: int = 0

    @classmethod
    def parse(cls, body: bytes) -> ReferrersIndex:
        """Read an index (the referrers API's answer, or the tag schema's manifest); raises
        ReferrersError for bytes that are not one."""
        if len(body) > MAX_INDEX_BYTES:
            raise ReferrersError(f"a referrers index of more than {MAX_INDEX_BYTES} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise ReferrersError("a referrers index that is not JSON") from error
        if not isinstance(data, dict) or not isinstance(data.get("manifests", []), list) \
                or data.get("mediaType", OCI_INDEX) != OCI_INDEX:
            raise ReferrersError("an answer that is not an OCI image index")
        found: dict[str, Descriptor] = {}
        ignored = 0
        for entry in data.get("manifests", []):
            descriptor = Descriptor.parse(entry)
            if descriptor is None:
                ignored += 1
            else:
                found.setdefault(descriptor.digest, descriptor)
        return cls(tuple(found.values()), ignored)

    @property
    def digests(self) -> frozenset[str]:
        return frozenset(d.digest for d in self.descriptors)

    def same_set(self, other: ReferrersIndex | Iterable[Descriptor]) -> bool:
        """Whether both list the same referrers (by digest), whatever their order and bytes."""
        others = other.digests if isinstance(other, ReferrersIndex) else \
            frozenset(d.digest for d in other)
        return self.digests == others

    def missing(self, wanted: Iterable[Descriptor]) -> tuple[Descriptor, ...]:
        """Those of `wanted` this index does not list."""
        present = self.digests
        return tuple(d for d in wanted if d.digest not in present)

    def merged(self, ours: Iterable[Descriptor]) -> ReferrersIndex:
        """This index with `ours` added: every entry already here kept as written, in its
        place; each of ours that is missing appended in order."""
        return ReferrersIndex((*self.descriptors, *_unique(self.missing(ours))), self.ignored)

    def body(self) -> bytes:
        """The index as the tag schema stores it (an OCI image index; compact, stable)."""
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [d.json() for d in self.descriptors]},
                          separators=(",", ":")).encode()


def _unique(descriptors: Iterable[Descriptor]) -> list[Descriptor]:
    """Each digest once, the first of its descriptors, in order."""
    first: dict[str, Descriptor] = {}
    for descriptor in descriptors:
        first.setdefault(descriptor.digest, descriptor)
    return list(first.values())


# -- manifests -----------------------------------------------------------------------------------


def _json(manifest: Manifest) -> dict[str, Any]:
    try:
        return manifest.json()
    except ValueError:
        return {}


def subject_of(manifest: Manifest) -> str | None:
    """The digest `manifest` says it is about (`subject.digest`), when it names one."""
    subject = _json(manifest).get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) and SHA256_DIGEST_RE.match(digest) else None


def refers_to(manifest: Manifest, subject: str) -> bool:
    """Whether `manifest` is a referrer of `subject`: a listing may lie, the bytes may not."""
    return subject_of(manifest) == subject


def artifact_type(manifest: Manifest) -> str:
    """A manifest's artifact type as the referrers API gives it: `artifactType`, else (for an
    image manifest) its config's media type; "" for neither."""
    data = _json(manifest)
    declared = data.get("artifactType")
    if isinstance(declared, str) and MEDIA_TYPE_RE.match(declared):
        return declared
    config = data.get("config")
    media_type = config.get("mediaType") if isinstance(config, dict) else None
    if manifest.media_type in (OCI_MANIFEST, DOCKER_MANIFEST) and isinstance(media_type, str) \
            and MEDIA_TYPE_RE.match(media_type):
        return media_type
    return ""


def is_chart(manifest: Manifest) -> bool:
    """A Helm chart pushed as an OCI artifact (`helm push`): its config is Helm's."""
    return artifact_type(manifest) == HELM_CONFIG


def is_artifact(manifest: Manifest) -> bool:
    """A manifest that is no container image: it declares an `artifactType`, or its config is
    not an image's (a chart, an SBOM, a WASM module, a signature)."""
    if manifest.media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        return bool(_json(manifest).get("artifactType"))
    kind = artifact_type(manifest)
    return bool(kind) and kind not in IMAGE_CONFIGS


def referrer_bytes(manifest: Manifest) -> int:
    """What copying a referrer reads: its manifest and the blobs it declares."""
    return len(manifest.body) + sum(blob.size for blob in blobs(manifest))


# -- types, kinds and tags -----------------------------------------------------------------------


def is_signature_type(artifact_type: str) -> bool:
    """cosign's signature types (OCI 1.1 mode and sigstore bundles, any version) and notation's."""
    return artifact_type in SIGNATURE_TYPES or artifact_type.startswith(SIGSTORE_BUNDLE_PREFIX)


def kind_of(artifact_type: str, annotations: Mapping[str, str] | None = None) -> Kind:
    """What an artifact type stands for; a sigstore bundle holding a DSSE envelope is an
    attestation (its `dev.sigstore.bundle.content`), any other a signature."""
    if artifact_type.startswith(SIGSTORE_BUNDLE_PREFIX):
        content = (annotations or {}).get(BUNDLE_CONTENT)
        return Kind.ATTESTATION if content == "dsse-envelope" else Kind.SIGNATURE
    if is_signature_type(artifact_type):
        return Kind.SIGNATURE
    if artifact_type in SBOM_TYPES:
        return Kind.SBOM
    if artifact_type in ATTESTATION_TYPES:
        return Kind.ATTESTATION
    return Kind.OTHER


def referrers_tag(digest: str) -> str:
    """The tag schema's tag for `digest`: `sha256:<hex>` -> `sha256-<hex>`."""
    algorithm, encoded = digest.split(":", 1)
    return TAG_UNSAFE_RE.sub("-", f"{algorithm[:MAX_TAG_ALGORITHM]}-{encoded[:MAX_TAG_REF]}")


def cosign_tags(digest: str, selection: Selection | None = None) -> dict[str, str]:
    """cosign's tags for `digest` that `selection` keeps: tag -> the artifact type it holds."""
    return {f"{referrers_tag(digest)}.{suffix}": kind for suffix, kind in SUFFIX_TYPES.items()
            if selection is None or selection.keeps_tag(suffix)}


def is_artifact_tag(tag: str) -> bool:
    """`sha256-<hex>` (a referrers index) or `sha256-<hex>.sig`/`.att`/`.sbom` (cosign's): tags
    that hold what is about an image, never an image to select."""
    return bool(ARTIFACT_TAG_RE.match(tag))


def set_digest(digests: Iterable[str]) -> str | None:
    """One digest for a set of referrers (their digests, in any order), for a record to keep
    and compare; None for none."""
    unique = sorted(set(digests))
    if not unique:
        return None
    return "sha256:" + hashlib.sha256("\n".join(unique).encode()).hexdigest()


def count_by_type(artifact_types: Sequence[str]) -> dict[str, int]:
    """How many of each artifact type (`sync --json`'s `referrers`), in type order."""
    counts: dict[str, int] = {}
    for kind in sorted(artifact_types):
        counts[kind] = counts.get(kind, 0) + 1
    return counts
