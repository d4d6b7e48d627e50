"""Image-format knowledge: media types, manifests, digests, platform selection and sizes (pure;
no I/O). What travels with an image (referrers, cosign's tags) is bot/image/referrers.py's.

Rule: a digest is the sha256 of the exact bytes; a registry's answer is trusted only as far as
those bytes hash to the digest asked for. An index is selected by platform without rewriting
the entries it keeps, so each kept platform keeps its upstream digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.image.platform import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
# distribution 2.8 may rewrite a tag GET to schema1 unless every modern type is accepted.
ACCEPT = ", ".join(MANIFEST_TYPES)
# Set on the indexes mirror-bot writes for a platform subset, so a later request can tell a
# subset (which it may widen or replace) from a tag mirrored whole (which it must not narrow).
SUBSET_ANNOTATION = "dev.mirror-bot.platform-subset"


def digest_of(data: bytes) -> str:
    """The sha256 digest of exactly these bytes, as registries write it."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as the registry sent it: the bytes are what the digest covers."""

    body: bytes
    media_type: str
    digest: str

    @classmethod
    def from_bytes(cls, body: bytes, media_type: str = "") -> Manifest:
        """Build from bytes; a missing or generic media type is read from the body."""
        media_type = media_type.split(";", maxsplit=1)[0].strip()
        if not media_type or media_type == "application/json":
            try:
                media_type = str(json.loads(body).get("mediaType") or "")
            except (ValueError, AttributeError):
                media_type = ""
        return cls(body, media_type, digest_of(body))

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        if not isinstance(data, dict):
            raise ValueError("a manifest is a JSON object")
        return data

    def entries(self) -> list[dict[str, Any]]:
        """An index's entries (descriptors of its child manifests)."""
        return [e for e in self.json().get("manifests", []) if isinstance(e, dict)]

    def platforms(self) -> list[Platform]:
        return [Platform.from_descriptor(e["platform"]) for e in self.entries()
                if isinstance(e.get("platform"), dict)]

    @property
    def is_platform_subset(self) -> bool:
        """An index mirror-bot wrote for a platform subset (it carries SUBSET_ANNOTATION)."""
        if not self.is_index:
            return False
        annotations = self.json().get("annotations")
        return isinstance(annotations, dict) and annotations.get(SUBSET_ANNOTATION) == "true"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


def blobs(manifest: Manifest) -> list[Blob]:
    """The config and layers an image manifest declares (none for an index)."""
    data = manifest.json()
    layers = data.get("layers")
    if not isinstance(layers, list):
        layers = []
    found = []
    for descriptor in [data.get("config"), *layers]:
        if (isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str)
                and isinstance(descriptor.get("size"), int)):
            found.append(Blob(descriptor["digest"], descriptor["size"]))
    return found


def whole_by_blobs(manifest: Manifest) -> bool:
    """Whether the bytes of `manifest` and its blobs are all the mirror needs to serve it: an
    image manifest of schema 2 or OCI (not an index, not schema 1) whose config and every layer
    are plain blobs of the registry — a foreign layer (with `urls`, fetched from elsewhere) or a
    descriptor without a digest and size is not."""
    if manifest.media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        return False
    data = manifest.json()
    layers = data.get("layers")
    if not isinstance(layers, list) or any(isinstance(layer, dict) and "urls" in layer
                                           for layer in layers):
        return False
    return len(blobs(manifest)) == 1 + len(layers)


def select_platforms(entries: Iterable[dict[str, Any]], wanted: Sequence[Platform],
                     ) -> tuple[list[dict[str, Any]], list[Platform]]:
    """The first entry for each wanted platform, in index order, and the platforms missing."""
    entries = list(entries)
    chosen_ids: set[int] = set()
    missing: list[Platform] = []
    for platform in wanted:
        match = next((i for i, e in enumerate(entries)
                      if isinstance(e.get("platform"), dict) and platform.matches(e["platform"])),
                     None)
        if match is None:
            missing.append(platform)
        else:
            chosen_ids.add(match)
    return [e for i, e in enumerate(entries) if i in chosen_ids], missing


def subset_index(index: Manifest, chosen: list[dict[str, Any]]) -> Manifest:
    """A new index listing only `chosen`, marked with SUBSET_ANNOTATION; its digest differs
    from the original's by design, and is the same for the same index and platforms."""
    data = index.json()
    annotations = data.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    data.update(manifests=chosen, annotations={**annotations, SUBSET_ANNOTATION: "true"})
    body = json.dumps(data, indent=3).encode()
    return Manifest(body, index.media_type, digest_of(body))


def image_size(manifest: Manifest) -> int:
    """Bytes of one image manifest's config and layers, as the manifest declares them."""
    data = manifest.json()
    layers = data.get("layers") or []
    config = data.get("config") or {}
    return sum(int(layer.get("size", 0)) for layer in layers if isinstance(layer, dict)) + int(
        config.get("size", 0) if isinstance(config, dict) else 0)


def human_size(size: float | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
