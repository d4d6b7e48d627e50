"""Copying what travels with an image (bot/copy/referrers.py) between real registries: from
distribution 2.8 (the tag schema) to distribution, and from the referrers API stand-in to
another (`OCI-Subject`). Every referrer and cosign tag arrives with its upstream digest, the
mirror's tag-schema indexes list the same descriptors as upstream's (never compared by their
own digest), a second copy writes nothing, the settings narrow what is kept, bounds hold and say
so, and each upstream read is counted."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.copy.referrers import Carried, ReferrerCopier
from bot.image import referrers as r
from bot.image.oci import Manifest
from bot.image.reference import Reference, parse
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.referrers import Referrers
from sandbox import images
from sandbox.referrers_registry import ReferrersRegistry, serve_referrers
from sandbox.registries import start_registry
from sandbox.testbed import Sandbox
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, QUICK


class Reader:
    """Manifests by digest through the client, checked against the digest asked for."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    def manifest(self, ref: Reference) -> Manifest:
        manifest = self.client.get_manifest(ref)
        assert manifest is not None and manifest.digest == ref.digest
        return manifest

    def each(self, action: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return [action(item) for item in items]


def copier(client: RegistryClient, **options: object) -> ReferrerCopier:
    return ReferrerCopier(client, Reader(client), Referrers(client.transport, client.conf),
                          **options)  # type: ignore[arg-type]


def skopeo_copy(testbed: Sandbox, source: str, target: str) -> None:
    subprocess.run(["skopeo", "--registries-conf", str(testbed.registries_conf), "copy", "--quiet",
                    "--all", "--preserve-digests", f"--dest-creds={MIRROR_USER}:{MIRROR_PASSWORD}",
                    f"docker://{source}", f"docker://{target}"],
                   check=True, capture_output=True, timeout=120)


def listed(client: RegistryClient, ref: Reference, subject: str) -> set[str]:
    found = client.get_manifest(ref.with_tag(r.referrers_tag(subject)))
    return set() if found is None else {e["digest"] for e in json.loads(found.body)["manifests"]}


def test_a_signed_image_arrives_whole_by_the_tag_schema(testbed: Sandbox, name: str) -> None:
    source_name = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source_name, "1.0",
                                      seed=name)
    source, target = parse(source_name), parse(f"{testbed.mirror.host}/{name}")
    skopeo_copy(testbed, f"{source_name}:1.0", f"{target.name}:1.0")
    client = testbed.client()
    platforms = sorted(signed.image.manifests.values())
    testbed.upstream.mark()
    carried = copier(client).copy(source, target, signed.image.index_digest, platforms)
    assert not carried.incomplete, carried.reasons
    # every manifest that came along has its upstream digest at the mirror
    index_sig = f"{r.referrers_tag(signed.image.index_digest)}.sig"
    platform_sig = f"{r.referrers_tag(signed.image.manifests[signed.platform])}.sig"
    assert sorted(carried.tags) == sorted(str(target.with_tag(t)) for t in (index_sig, platform_sig))
    assert client.head_digest(target.with_tag(index_sig)) == signed.index_signature
    assert client.head_digest(target.with_tag(platform_sig)) == signed.platform_signature
    for digest in signed.referrer_digests:
        assert client.head_digest(target.with_digest(digest)) == digest
    assert {d for _, d in carried.copied} == signed.referrer_digests | {
        signed.index_signature, signed.platform_signature}
    assert carried.counts == {"application/spdx+json": 1, r.COSIGN_SIGNATURE: 2,
                              r.NOTATION_SIGNATURE: 1, r.SIGSTORE_BUNDLE: 1}
    assert carried.kinds == {r.Kind.SIGNATURE: 4, r.Kind.SBOM: 1}
    requests = testbed.upstream.requests()
    # the mirror's indexes list what upstream's list (compared as sets of descriptors)
    upstream = RegistryClient(RegistriesConf.load(testbed.registries_conf), Credentials(), 10,
                              retry=QUICK)
    for subject in (signed.image.manifests[signed.platform], signed.sbom["digest"],
                    signed.image.index_digest):
        assert listed(client, target, subject) == listed(upstream, source, subject) != set()
    # upstream: each referrer and signature read once, each existing index once (after a HEAD)
    gets = [path.rsplit("/", 1)[1] for method, path, _ in requests
            if method == "GET" and "/manifests/" in path]
    assert sorted(gets) == sorted([*signed.referrer_digests, signed.index_signature,
                                   signed.platform_signature,
                                   *(r.referrers_tag(s) for s in (signed.image.manifests[signed.platform],
                                                                  signed.sbom["digest"],
                                                                  signed.image.index_digest))])
    # the top digest's set: its signature tag and upstream's tag-schema index, as the no-op
    # check reads them again, by HEADs alone (no pull)
    index_tag = upstream.head_digest(source.with_tag(r.referrers_tag(signed.image.index_digest)))
    assert carried.digest == r.set_digest([signed.index_signature, str(index_tag)])
    testbed.upstream.mark()
    assert copier(client).check(source, signed.image.index_digest) == carried.digest
    assert {m for m, path, _ in testbed.upstream.requests() if "/manifests/" in path} == {"HEAD"}
    # again: nothing new is written at the mirror
    testbed.mirror.mark()
    again = copier(client).copy(source, target, signed.image.index_digest, platforms)
    assert not again.incomplete and again.digest == carried.digest
    assert [m for m, _, _ in testbed.mirror.requests() if m in {"PUT", "POST", "PATCH"}] == []
    client.close()
    upstream.close()


def test_settings_narrow_what_comes_along(testbed: Sandbox, name: str) -> None:
    source_name = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source_name, "1.0",
                                      seed=name)
    source, target = parse(source_name), parse(f"{testbed.mirror.host}/{name}")
    skopeo_copy(testbed, f"{source_name}:1.0", f"{target.name}:1.0")
    client = testbed.client()
    platforms = sorted(signed.image.manifests.values())
    signatures = copier(client, selection=r.Selection(r.Keep.SIGNATURES)).copy(
        source, target, signed.image.index_digest, platforms)
    # the SBOM is no signature: neither it nor the signature hanging off it comes along
    assert {d for _, d in signatures.copied} == {signed.index_signature, signed.platform_signature,
                                                 signed.index_signature_referrer["digest"]}
    assert client.head_digest(target.with_digest(signed.sbom["digest"])) is None
    assert not signatures.incomplete
    none = copier(client, selection=r.Selection(r.Keep.NONE)).copy(
        source, target, signed.image.index_digest, platforms)
    assert none.copied == [] and none.tags == [] and not none.incomplete
    client.close()


def test_bounds_hold_and_say_so(testbed: Sandbox, name: str) -> None:
    source_name = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source_name, "1.0",
                                      seed=name)
    source = parse(source_name)
    client = testbed.client()
    platforms = sorted(signed.image.manifests.values())

    def copied_to(repository: str, bounds: r.Bounds) -> Carried:
        target = parse(f"{testbed.mirror.host}/{name}-{repository}")
        skopeo_copy(testbed, f"{source_name}:1.0", f"{target.name}:1.0")
        return copier(client, bounds=bounds).copy(source, target, signed.image.index_digest,
                                                  platforms)

    shallow = copied_to("shallow", r.Bounds(max_depth=1))
    # depth 1: the SBOM comes, its own signature is not looked for
    assert signed.sbom["digest"] in {d for _, d in shallow.copied}
    assert signed.sbom_signature["digest"] not in {d for _, d in shallow.copied}
    few = copied_to("few", r.Bounds(max_count=2))
    assert len(few.copied) == 2 and few.incomplete
    assert "past the bounds" in few.reasons[-1]
    small = copied_to("small", r.Bounds(max_bytes=100))
    assert small.copied == [] and small.incomplete
    client.close()


def test_a_listing_that_lies_about_its_subject_is_not_copied(testbed: Sandbox, name: str) -> None:
    source_name = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source_name, "1.0",
                                      seed=name)
    source, target = parse(source_name), parse(f"{testbed.mirror.host}/{name}")
    skopeo_copy(testbed, f"{source_name}:1.0", f"{target.name}:1.0")
    arm = signed.image.manifests["linux/arm64"]
    # upstream's index for the arm64 manifest lists the amd64 SBOM (whose subject is amd64's)
    images.list_under_tag(testbed.upstream.host, source_name, arm, [signed.sbom])
    client = testbed.client()
    carried = copier(client).copy(source, target, "", [arm])
    assert carried.copied == [] and carried.incomplete
    assert "names another subject" in carried.reasons[0]
    client.close()


@pytest.fixture
def api_pair(tmp_path: Path) -> Iterator[tuple[ReferrersRegistry, ReferrersRegistry, RegistryClient]]:
    """Two registries that keep the referrers API (stand-ins before real ones): upstream, mirror."""
    backends = [start_registry(tmp_path / side) for side in ("up", "down")]
    try:
        with serve_referrers(ReferrersRegistry(backends[0].host)) as upstream, \
                serve_referrers(ReferrersRegistry(backends[1].host)) as mirror:
            conf = tmp_path / "registries.conf"
            conf.write_text("\n".join(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
                                      for host in (upstream.host, mirror.host)))
            client = RegistryClient(RegistriesConf.load(conf), Credentials(), 10, retry=QUICK,
                                    mirrors=[mirror.host])
            yield upstream, mirror, client
            client.close()
    finally:
        for backend in backends:
            backend.stop()


def test_a_mirror_that_keeps_the_api_gets_no_tag_schema(
        api_pair: tuple[ReferrersRegistry, ReferrersRegistry, RegistryClient], tmp_path: Path) -> None:
    upstream, mirror, client = api_pair
    signed = images.push_signed_image(tmp_path, upstream.host, "team/app", "1.0", seed="api",
                                      tag_schema=False)
    source, target = parse(f"{upstream.host}/team/app"), parse(f"{mirror.host}/team/app")
    subprocess.run(["skopeo", "copy", "--quiet", "--all", "--preserve-digests", "--src-tls-verify=false",
                    "--dest-tls-verify=false", f"docker://{source.name}:1.0", f"docker://{target.name}:1.0"],
                   check=True, capture_output=True, timeout=120)
    carried: Carried = copier(client).copy(source, target, signed.image.index_digest,
                                           sorted(signed.image.manifests.values()))
    assert not carried.incomplete, carried.reasons
    assert signed.referrer_digests <= {d for _, d in carried.copied}
    # the mirror answered OCI-Subject: it lists them itself, and no index tag was written there
    def index_tags(registry: ReferrersRegistry, method: str) -> list[str]:
        return [path for m, path, _ in registry.requests if m == method
                and r.REFERRERS_TAG_RE.match(path.rsplit("/", 1)[1])]
    assert index_tags(mirror, "PUT") == [] and index_tags(upstream, "GET") == []
    subject = signed.image.manifests[signed.platform]
    assert [e["digest"] for e in mirror.listing("team/app", subject)] == [signed.sbom["digest"]]
    assert mirror.listing("team/app", subject)[0]["annotations"] == signed.sbom["annotations"]
