"""Platforms copied at once, platform subsets at shared tags, and `name:tag@digest` requests,
against real registries and real skopeo."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.copy.model import SyncItem, SyncResult
from bot.copy.platforms import REPLACED_SUBSET_NOTE
from bot.copy.syncer import Syncer
from bot.errors import ErrorKind
from bot.image.oci import SUBSET_ANNOTATION, Manifest
from bot.image.platform import Platform
from bot.image.reference import Reference, parse
from bot.registry.skopeo import Skopeo
from sandbox.images import build_image, push
from tests.fixtures import Sandbox

THREE = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def item(testbed: Sandbox, source: str, platforms: tuple[str, ...] = ()) -> SyncItem:
    ref = parse(source)
    return SyncItem(ref, testbed.config().namer.target(ref), tuple(map(Platform.parse, platforms)))


def mirrored(testbed: Sandbox, name: str, tag: str = "1.0") -> Manifest | None:
    return testbed.client().get_manifest(parse(f"{testbed.mirror.host}/docker.io/library/{name}:{tag}"))


def platforms_of(manifest: Manifest | None) -> set[str]:
    assert manifest is not None
    return {str(p) for p in manifest.platforms()}


class CountingSkopeo(Skopeo):
    """The real skopeo adapter, counting how many of its copies run at once."""

    def __init__(self, inner: Skopeo) -> None:
        super().__init__(inner.registries_conf, inner.credentials, inner.timeout, inner.binary)
        self.running = self.peak = self.calls = 0
        self._lock = threading.Lock()

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1

    def copy(self, source: Reference, destination: Reference, **options: object) -> None:
        with self._counted():
            super().copy(source, destination, **options)  # type: ignore[arg-type]


# -- platforms in parallel ---------------------------------------------------------------------

def test_index_with_attestation_is_copied_child_by_child_with_upstream_digest(
        testbed: Sandbox, name: str) -> None:
    layout = testbed.workdir / "layouts" / name
    image = build_image(layout, "1.0", seed=name, platforms=THREE, attestation=True)
    push(image, f"{testbed.upstream.host}/docker.io/library/{name}:1.0")
    syncer = testbed.syncer()
    copier = CountingSkopeo(syncer.copier)
    syncer = dataclasses.replace(syncer, copier=copier)
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert result.status == "copied", result.error
    assert result.digest == image.index_digest
    assert testbed.client().head_digest(result.target) == image.index_digest
    index = mirrored(testbed, name)
    assert index is not None and index.digest == image.index_digest
    for entry in index.entries():  # every child, the attestation included, by its own digest
        child = Reference(result.target.registry, result.target.repository, None, entry["digest"])
        assert testbed.client().head_digest(child) == entry["digest"]
    assert copier.calls == len(THREE) + 1  # one skopeo copy per child, none with --all
    assert result.size == declared_size(layout, image.index_digest)


def declared_size(layout: Path, index_digest: str) -> int:
    """Configs and layers of every child of the index, as the layout's manifests declare them."""
    def blob(digest: str) -> dict:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    total = 0
    for entry in blob(index_digest)["manifests"]:
        manifest = blob(entry["digest"])
        total += manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    return total


def test_skopeo_processes_stay_within_the_bound_across_jobs(testbed: Sandbox, name: str) -> None:
    names = [f"{name}-{i}" for i in range(3)]
    images = [testbed.seed(n, platforms=THREE) for n in names]
    copier = CountingSkopeo(testbed.syncer().copier)
    syncer = dataclasses.replace(testbed.syncer(), copier=copier, copy_processes=2)
    results = syncer.sync_all([item(testbed, f"docker.io/library/{n}:1.0") for n in names], jobs=3)
    assert [r.digest for r in results] == [i.index_digest for i in images]
    assert copier.calls == 3 * len(THREE)
    assert copier.peak <= 2


def test_size_of_reads_the_manifests_the_sync_then_reuses(testbed: Sandbox, name: str) -> None:
    testbed.seed(name, platforms=THREE, layer_sizes=(5000, 3000))
    syncer = testbed.syncer()
    request = item(testbed, f"docker.io/library/{name}:1.0")
    testbed.upstream.mark()
    size = syncer.size_of(request)
    gets_for_size = testbed.upstream.manifest_requests()["GET"]
    result = syncer.sync(request)
    assert result.status == "copied"
    assert size == result.size and size > 3 * 8000
    assert gets_for_size == 1 + len(THREE)  # the index and each child, once
    # skopeo reads each child once more for its own copy; we read nothing twice
    assert testbed.upstream.manifest_requests()["GET"] == gets_for_size + len(THREE)
    assert syncer.size_of(request) == 0  # current: nothing to move


# -- platform subsets at shared tags -----------------------------------------------------------

def test_subset_over_a_tag_mirrored_whole_is_refused(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name, platforms=THREE)
    syncer = testbed.syncer()
    assert syncer.sync(item(testbed, f"docker.io/library/{name}:1.0")).status == "copied"
    testbed.mirror.mark()
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",)))
    assert result.status == "failed" and result.error.kind == ErrorKind.SUBSET_REFUSED
    assert not result.transient
    assert "already serves every platform" in result.error.message
    assert "--platform=linux/arm64" in result.error.message
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert testbed.client().head_digest(result.target) == image.index_digest


def test_subset_is_annotated_and_a_second_subset_writes_the_union(testbed: Sandbox,
                                                                  name: str) -> None:
    image = testbed.seed(name, platforms=THREE)
    syncer = testbed.syncer()
    first = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",)))
    assert first.status == "copied", first.error
    assert str(first.note).endswith("the tag was not mirrored before")
    index = mirrored(testbed, name)
    assert index is not None and index.json()["annotations"][SUBSET_ANNOTATION] == "true"
    assert platforms_of(index) == {"linux/arm64"}
    second = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/amd64",)))
    assert second.status == "copied", second.error
    union = mirrored(testbed, name)
    assert platforms_of(union) == {"linux/amd64", "linux/arm64"}
    assert union is not None and union.digest == second.digest != image.index_digest
    assert "union" in str(second.note) and "linux/arm64" in str(second.note)
    for entry in union.entries():  # each platform keeps its upstream digest
        assert entry["digest"] in image.manifests.values()
    again = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",)))
    assert again.status == "unchanged" and again.digest == union.digest  # the union holds arm64


def test_whole_copy_replaces_a_subset_and_says_so(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name, platforms=THREE)
    syncer = testbed.syncer()
    subset = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm/v7",)))
    assert subset.status == "copied", subset.error
    whole = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert whole.status == "copied", whole.error
    assert whole.digest == image.index_digest
    assert whole.note == REPLACED_SUBSET_NOTE
    assert testbed.client().head_digest(whole.target) == image.index_digest
    assert platforms_of(mirrored(testbed, name)) == set(THREE)


def test_subset_of_a_moved_tag_is_the_union_from_the_new_index(testbed: Sandbox, name: str) -> None:
    testbed.seed(name, platforms=THREE, seed="old")
    syncer = testbed.syncer()
    assert syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",))).status == "copied"
    moved = testbed.seed(name, platforms=THREE, seed="new")
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/amd64",)))
    assert result.status == "copied", result.error
    index = mirrored(testbed, name)
    assert index is not None
    assert {e["digest"] for e in index.entries()} == {moved.manifests["linux/amd64"],
                                                      moved.manifests["linux/arm64"]}


# -- name:tag@digest ---------------------------------------------------------------------------

def test_tag_at_digest_is_written_while_the_tag_resolves_to_it(testbed: Sandbox,
                                                                   name: str) -> None:
    image = testbed.seed(name)
    request = item(testbed, f"docker.io/library/{name}:1.0@{image.index_digest}")
    assert request.target.tag == "1.0" and request.target.digest == image.index_digest
    testbed.upstream.mark()
    result = testbed.syncer().sync(request)
    assert result.status == "copied", result.error
    assert result.digest == image.index_digest
    tag = parse(f"{testbed.mirror.host}/docker.io/library/{name}:1.0")
    assert testbed.client().head_digest(tag) == image.index_digest
    heads = [p for m, p, _ in testbed.upstream.requests() if m == "HEAD" and p.endswith("/1.0")]
    assert len(heads) == 1  # one HEAD of upstream's tag decides


def test_tag_at_an_old_digest_is_refused_with_both_digests(testbed: Sandbox, name: str) -> None:
    old = testbed.seed(name, seed="old")
    syncer = testbed.syncer()
    assert syncer.sync(item(testbed, f"docker.io/library/{name}:1.0")).status == "copied"
    new = testbed.seed(name, seed="new")
    testbed.mirror.mark()
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0@{old.index_digest}"))
    assert result.status == "failed" and result.error.kind == ErrorKind.TAG_MOVED
    assert not result.transient
    assert old.index_digest in result.error.message and new.index_digest in result.error.message
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    tag = parse(f"{testbed.mirror.host}/docker.io/library/{name}:1.0")
    assert testbed.client().head_digest(tag) == old.index_digest  # the shared tag is untouched


def test_tag_at_digest_with_a_platform_subset(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name, platforms=THREE)
    result = testbed.syncer().sync(
        item(testbed, f"docker.io/library/{name}:1.0@{image.index_digest}", ("linux/arm64",)))
    assert result.status == "copied", result.error
    assert platforms_of(mirrored(testbed, name)) == {"linux/arm64"}


class WholeCopyLands(Skopeo):
    """The real skopeo adapter, with another run's whole copy of `whole` landing at the mirror
    while this run copies its first platform: after the subset's check, before its index."""

    def __init__(self, inner: Skopeo, other_run: Syncer, whole: SyncItem) -> None:
        super().__init__(inner.registries_conf, inner.credentials, inner.timeout, inner.binary)
        self.other_run, self.whole = other_run, whole
        self.landed: list[SyncResult] = []

    def copy(self, source: Reference, destination: Reference, **options: object) -> None:
        if not self.landed:
            self.landed.append(self.other_run.sync(self.whole))
        super().copy(source, destination, **options)  # type: ignore[arg-type]


def test_a_whole_copy_landing_during_a_subset_copy_is_not_narrowed(testbed: Sandbox,
                                                                   name: str) -> None:
    """Issue 27 item 3: the mirror's tag is read again just before the subset's index."""
    image = testbed.seed(name, platforms=THREE)
    syncer = testbed.syncer()
    racing = WholeCopyLands(syncer.copier, testbed.syncer(),  # type: ignore[arg-type]
                            item(testbed, f"docker.io/library/{name}:1.0"))
    syncer = dataclasses.replace(syncer, copier=racing)
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",)))
    assert [landed.status for landed in racing.landed] == ["copied"]
    assert result.status == "failed" and result.error.kind == ErrorKind.SUBSET_REFUSED
    assert testbed.client().head_digest(result.target) == image.index_digest
    assert platforms_of(mirrored(testbed, name)) == set(THREE)
