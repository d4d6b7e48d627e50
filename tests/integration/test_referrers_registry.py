"""Referrers at real registries (bot/registry/referrers.py): distribution 2.8, which has no
referrers API (the tag schema's path), and a stand-in that keeps the API and answers
`OCI-Subject` (sandbox/referrers_registry.py, in front of a real distribution registry). Listing,
pagination and bounds; a PUT that tells whether the mirror keeps the API; the tag schema's index
merged without losing an entry, one written concurrently included; the builders of signed
images, SBOMs and charts (sandbox/images.py) read back with their digests."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.errors import TransferError
from bot.image import referrers as r
from bot.image.oci import OCI_MANIFEST
from bot.image.reference import parse
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.referrers import MAX_PAGES, Referrers
from sandbox import images
from sandbox.referrers_registry import ReferrersRegistry, serve_referrers
from sandbox.registries import Registry, start_registry
from sandbox.testbed import Sandbox
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, QUICK

LOGIN = (MIRROR_USER, MIRROR_PASSWORD)


@pytest.fixture
def api_registry(tmp_path: Path) -> Iterator[tuple[ReferrersRegistry, Registry]]:
    """The referrers API stand-in, in front of a distribution registry of its own."""
    backend = start_registry(tmp_path / "backend")
    try:
        with serve_referrers(ReferrersRegistry(backend.host)) as registry:
            yield registry, backend
    finally:
        backend.stop()


def referrers_of(client: RegistryClient) -> Referrers:
    return Referrers(client.transport, client.conf)


def plain_client(tmp_path: Path, *hosts: str) -> RegistryClient:
    conf = tmp_path / "registries.conf"
    conf.write_text("\n".join(f'[[registry]]\nlocation = "{h}"\ninsecure = true\n' for h in hosts))
    return RegistryClient(RegistriesConf.load(conf), Credentials(), 10, retry=QUICK)


def descriptor(entry: dict[str, Any]) -> r.Descriptor:
    found = r.Descriptor.parse(entry)
    assert found is not None
    return found


# --- the tag schema's path: distribution 2.8 ----------------------------------------------------

def test_the_tag_schema_lists_a_signed_images_referrers(testbed: Sandbox, name: str) -> None:
    repository = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, repository, "1.0",
                                      seed=name)
    client = testbed.client()
    referrers = referrers_of(client)
    image = parse(repository)
    platform_digest = signed.image.manifests[signed.platform]
    testbed.upstream.mark()
    listed = referrers.listed(image, platform_digest, at_mirror=False, max_count=10)
    assert not listed.by_api and not listed.truncated
    assert [d.digest for d in listed.descriptors] == [signed.sbom["digest"]]
    assert listed.descriptors[0].artifact_type == "application/spdx+json"
    assert listed.descriptors[0].annotations == signed.sbom["annotations"]
    # the referrers API answered 404 once; the host is not asked again this run
    assert referrers.serves_api(testbed.upstream.host) is False
    deeper = referrers.listed(image, signed.sbom["digest"], at_mirror=False, max_count=10)
    assert [d.digest for d in deeper.descriptors] == [signed.sbom_signature["digest"]]
    assert deeper.descriptors[0].kind is r.Kind.SIGNATURE
    on_index = referrers.listed(image, signed.image.index_digest, at_mirror=False, max_count=10)
    assert [d.kind for d in on_index.descriptors] == [r.Kind.SIGNATURE]
    requests = testbed.upstream.requests()
    assert [m for m, path, _ in requests if "/referrers/" in path] == ["GET"]
    # each existing index: a HEAD, then one GET; the referrer manifests themselves are not read
    manifests = [(m, path.rsplit("/", 1)[1]) for m, path, _ in requests if "/manifests/" in path]
    assert manifests == [(m, r.referrers_tag(subject)) for subject in
                         (platform_digest, signed.sbom["digest"], signed.image.index_digest)
                         for m in ("HEAD", "GET")]
    # no index at all: a HEAD and nothing more
    testbed.upstream.mark()
    assert referrers.listed(image, signed.image.manifests["linux/arm64"], at_mirror=False,
                            max_count=10).descriptors == ()
    assert [m for m, _, _ in testbed.upstream.requests()] == ["HEAD"]
    client.close()


def test_signature_tags_and_referrers_keep_their_digests(testbed: Sandbox, name: str) -> None:
    repository = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, repository, "1.0",
                                      seed=name)
    client = testbed.client()
    image = parse(repository)
    for subject, signature in ((signed.image.index_digest, signed.index_signature),
                               (signed.image.manifests[signed.platform], signed.platform_signature)):
        assert client.head_digest(image.with_tag(f"{r.referrers_tag(subject)}.sig")) == signature
    sbom = client.get_manifest(image.with_digest(signed.sbom["digest"]))
    assert sbom is not None and sbom.digest == signed.sbom["digest"]
    assert r.refers_to(sbom, signed.image.manifests[signed.platform])
    assert r.Descriptor.of(sbom) == descriptor(signed.sbom)
    client.close()


# --- writing at the mirror: OCI-Subject, and the tag schema's merge -------------------------------

def test_a_mirror_without_the_api_gets_its_index_merged(testbed: Sandbox, name: str) -> None:
    source = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    client = testbed.client()
    referrers = referrers_of(client)
    target = parse(f"{testbed.mirror.host}/{name}")
    subject = signed.image.manifests[signed.platform]
    # the subject first (a referrer's subject is copied before it), then the SBOM by digest
    subprocess.run(["skopeo", "--registries-conf", str(testbed.registries_conf), "copy", "--quiet",
                    "--all", "--preserve-digests", f"--dest-creds={MIRROR_USER}:{MIRROR_PASSWORD}",
                    f"docker://{source}:1.0", f"docker://{target.name}:1.0"],
                   check=True, capture_output=True, timeout=120)
    sbom = client.get_manifest(parse(source).with_digest(signed.sbom["digest"]))
    assert sbom is not None
    for blob in (json.loads(sbom.body)["config"], *json.loads(sbom.body)["layers"]):
        client.stage_blob(parse(source), target, blob["digest"], blob["size"])
    put = referrers.put(target, sbom)
    assert put.digest == signed.sbom["digest"] and put.subject_kept is False
    # an entry another writer listed before us stays, as written
    subject_body = client.get_manifest(target.with_digest(subject))
    assert subject_body is not None
    other = images.attach(testbed.mirror.host, name, images.descriptor_of(subject, subject_body.body),
                          "application/vnd.example.other", b"other",
                          annotations={"by": "someone else"}, auth=LOGIN)
    index, writes = referrers.add_to_tag_index(target, subject, [r.Descriptor.of(sbom)])
    assert writes == 1
    assert [d.digest for d in index.descriptors] == [other["digest"], sbom.digest]
    written = client.get_manifest(target.with_tag(r.referrers_tag(subject)))
    assert written is not None
    assert json.loads(written.body)["manifests"][0] == other
    assert json.loads(written.body)["manifests"][1]["artifactType"] == "application/spdx+json"
    # again: nothing to add, nothing written
    assert referrers.add_to_tag_index(target, subject, [r.Descriptor.of(sbom)])[1] == 0
    listed = referrers.listed(target, subject, at_mirror=True, max_count=10)
    assert listed.index.same_set(index) and listed.tag_digest == written.digest
    client.close()


class Interleaved:
    """The transport, with another writer's stale write landing right after each of our index
    PUTs (distribution has no conditional PUT: its write replaces ours)."""

    def __init__(self, transport: Any, after_put: Any, times: int) -> None:
        self.transport, self.after_put, self.times = transport, after_put, times

    def request(self, endpoint: Any, method: str, path: str, **options: Any) -> Any:
        response = self.transport.request(endpoint, method, path, **options)
        if method == "PUT" and "/manifests/sha256-" in path and self.times:
            self.times -= 1
            self.after_put()
        return response

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.transport, attribute)


def test_an_entry_a_concurrent_writer_dropped_is_put_back(testbed: Sandbox, name: str) -> None:
    client = testbed.client()
    host = testbed.mirror.host
    target = parse(f"{host}/{name}")
    subject, subject_body, _ = images.put_manifest(host, name, "subject", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.s",
        "config": images.put_blob(host, name, b"{}", images.EMPTY_CONFIG, LOGIN), "layers": [
            images.put_blob(host, name, b"s", "application/octet-stream", LOGIN)]}, auth=LOGIN)
    about = images.descriptor_of(subject, subject_body)
    first, theirs, ours, late = (images.attach(
        host, name, about, f"application/vnd.example.{kind}", kind.encode(), annotations={"k": kind},
        tag_schema=False, auth=LOGIN) for kind in ("first", "theirs", "ours", "late"))
    images.list_under_tag(host, name, subject, [first], LOGIN)
    # the other writer read [first] before our write, and writes [first, theirs] after it
    stale = Interleaved(client.transport, lambda: images.list_under_tag(
        host, name, subject, [first, theirs], LOGIN, replace=True), times=1)
    referrers = Referrers(stale, client.conf)  # type: ignore[arg-type]
    index, writes = referrers.add_to_tag_index(target, subject, [descriptor(ours)])
    assert writes == 2  # ours dropped by their write, found missing on the next read, put back
    assert [d.digest for d in index.descriptors] == [first["digest"], theirs["digest"], ours["digest"]]
    assert index.descriptors[1].json() == theirs
    # a writer that always loses gives up after its rounds, and says so
    endless = Interleaved(client.transport, lambda: images.list_under_tag(
        host, name, subject, [first], LOGIN, replace=True), times=100)
    with pytest.raises(TransferError, match="kept changing"):
        Referrers(endless, client.conf).add_to_tag_index(  # type: ignore[arg-type]
            target, subject, [descriptor(late)], rounds=2)
    client.close()


# --- the referrers API's path: the stand-in --------------------------------------------------------

def test_the_api_lists_referrers_and_a_put_says_it_keeps_them(
        api_registry: tuple[ReferrersRegistry, Registry], tmp_path: Path) -> None:
    registry, backend = api_registry
    signed = images.push_signed_image(tmp_path, registry.host, "team/app", "1.0", seed="api",
                                      tag_schema=False)
    client = plain_client(tmp_path, registry.host, backend.host)
    referrers = referrers_of(client)
    image = parse(f"{registry.host}/team/app")
    subject = signed.image.manifests[signed.platform]
    listed = referrers.listed(image, subject, at_mirror=False, max_count=10)
    assert listed.by_api and [d.digest for d in listed.descriptors] == [signed.sbom["digest"]]
    assert listed.descriptors[0].annotations == signed.sbom["annotations"]
    assert referrers.serves_api(registry.host) is True
    assert registry.count("GET", "/manifests/sha256-") == 0  # no tag schema where the API is
    # an unknown subject: an empty index, not a 404
    assert referrers.listed(image, "sha256:" + "0" * 64, at_mirror=False, max_count=10).by_api
    # a PUT by digest: OCI-Subject says the mirror keeps the referrers itself
    mirror = parse(f"{registry.host}/mirror/app")
    sbom = client.get_manifest(image.with_digest(signed.sbom["digest"]))
    assert sbom is not None
    for blob in (json.loads(sbom.body)["config"], *json.loads(sbom.body)["layers"]):
        client.stage_blob(image, mirror, blob["digest"], blob["size"])
    assert referrers.put(mirror, sbom).subject_kept is True
    assert [d.digest for d in referrers.listed(mirror, subject, at_mirror=True,
                                               max_count=10).descriptors] == [sbom.digest]
    registry.subject_header = False
    assert referrers.put(mirror, sbom).subject_kept is False  # lists them, never said so
    client.close()


def test_pages_are_followed_and_bounds_hold_against_a_hostile_listing(
        api_registry: tuple[ReferrersRegistry, Registry], tmp_path: Path) -> None:
    registry, backend = api_registry
    subject = "sha256:" + "a" * 64
    hostile = [{"mediaType": OCI_MANIFEST, "digest": f"sha256:{i:064x}", "size": 500,
                "artifactType": "application/vnd.example.noise"} for i in range(10_000)]
    registry.extra[("team/noisy", subject)] = hostile
    client = plain_client(tmp_path, registry.host, backend.host)
    referrers = referrers_of(client)
    image = parse(f"{registry.host}/team/noisy")
    registry.page_size = 7
    listed = referrers.listed(image, subject, at_mirror=False, max_count=30)
    assert len(listed.descriptors) == 30 and listed.truncated
    assert [d.digest for d in listed.descriptors] == [e["digest"] for e in hostile[:30]]
    assert registry.count("GET", "/referrers/") == 5  # 7 a page: the fifth reaches 30
    registry.page_size = 1
    before = registry.count("GET", "/referrers/")
    listed = referrers.listed(image, subject, at_mirror=False, max_count=1000)
    assert len(listed.descriptors) == MAX_PAGES and listed.truncated
    assert registry.count("GET", "/referrers/") - before == MAX_PAGES
    # a hostile page whose entries are no descriptors: left out and counted
    registry.page_size = 100
    registry.extra[("team/noisy", subject)] = [{"digest": "sha256:nope"}, *hostile[:2], "junk"]
    listed = referrers.listed(image, subject, at_mirror=False, max_count=10)
    assert len(listed.descriptors) == 2 and listed.ignored == 2 and not listed.truncated
    client.close()


def test_a_next_page_elsewhere_is_refused(api_registry: tuple[ReferrersRegistry, Registry],
                                          tmp_path: Path) -> None:
    registry, backend = api_registry
    subject = "sha256:" + "b" * 64
    registry.extra[("team/x", subject)] = [{"mediaType": OCI_MANIFEST, "digest": f"sha256:{i:064x}",
                                            "size": 1} for i in range(3)]
    registry.page_size = 1
    client = plain_client(tmp_path, registry.host, backend.host)
    image = parse(f"{registry.host}/team/x")
    assert len(referrers_of(client).listed(image, subject, at_mirror=False,
                                           max_count=10).descriptors) == 3
    registry.link_to = "/v2/team/other/referrers/" + subject  # another repository's listing
    with pytest.raises(TransferError, match="points elsewhere"):
        referrers_of(client).listed(image, subject, at_mirror=False, max_count=10)
    client.close()


# --- charts ---------------------------------------------------------------------------------------

def test_a_chart_pushed_as_helm_does_reads_back_with_its_digest(testbed: Sandbox, name: str) -> None:
    repository = f"docker.io/team/{name}"
    digest = images.push_chart(testbed.upstream.host, repository, "redis", "20.1.0+build.1")
    client = testbed.client()
    chart = client.get_manifest(parse(f"{repository}:20.1.0_build.1"))
    assert chart is not None and chart.digest == digest
    assert r.is_chart(chart) and r.is_artifact(chart) and not chart.is_index
    assert client.head_digest(parse(f"{repository}:20.1.0_build.1")) == digest
    client.close()
