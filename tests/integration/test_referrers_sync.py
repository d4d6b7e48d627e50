"""Signatures, SBOMs and charts through the whole bot (issue 26): `mirror-bot sync`, the issue
flow over the GitHub stand-in, and the no-op check of an image already current, against real
registries (distribution 2.8: the tag schema). Every copied manifest keeps its upstream digest,
the tag-schema indexes are compared by their descriptors, each upstream read is counted in
`pulls`, and what could not come along is said, never a failure."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bot.copy.engine import BlobStager
from bot.copy.model import SyncItem
from bot.copy.syncer import Syncer
from bot.image import referrers as r
from bot.image.reference import Reference, parse
from bot.records import record as records
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from sandbox import images
from sandbox.fault_proxy import FaultProxy, PullQuota, serve_proxy
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, QUICK, Sandbox, deliver, run_cli


def upstream_client(testbed: Sandbox) -> RegistryClient:
    return RegistryClient(RegistriesConf.load(testbed.registries_conf), Credentials(), 10, retry=QUICK)


def index_of(client: RegistryClient, ref: Reference, subject: str) -> set[str]:
    found = client.get_manifest(ref.with_tag(r.referrers_tag(subject)))
    return set() if found is None else {e["digest"] for e in json.loads(found.body)["manifests"]}


def sync_json(testbed: Sandbox, *args: str, **env: str) -> tuple[int, list[dict]]:
    done = run_cli("sync", "--json", *args, env=testbed.env(**env))
    return done.returncode, json.loads(done.stdout)["results"]


def test_sync_brings_every_signature_and_sbom_with_their_digests(testbed: Sandbox, name: str) -> None:
    source = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    testbed.upstream.mark()
    code, [result] = sync_json(testbed, f"{source}:1.0")
    assert code == 0 and result["status"] == "copied", result
    target = parse(result["target"])
    platform = signed.image.manifests[signed.platform]
    index_sig = f"{r.referrers_tag(signed.image.index_digest)}.sig"
    platform_sig = f"{r.referrers_tag(platform)}.sig"
    assert sorted(result["signatures"]) == sorted(str(target.with_tag(t)) for t in (index_sig, platform_sig))
    assert result["referrers"] == {"application/spdx+json": 1, r.COSIGN_SIGNATURE: 2,
                                   r.NOTATION_SIGNATURE: 1, r.SIGSTORE_BUNDLE: 1}
    assert result["referrers_incomplete"] is False
    # pulls: the index, two platforms, three referrers, two signatures, three tag-schema indexes
    gets = Counter(method for method, path, _ in testbed.upstream.requests() if "/manifests/" in path)
    assert result["pulls"] == gets["GET"] == 1 + 2 + 3 + 2 + 3
    mirror = testbed.client()
    for digest in (*signed.referrer_digests, signed.index_signature, signed.platform_signature):
        assert mirror.head_digest(target.with_digest(digest)) == digest
    upstream = upstream_client(testbed)
    for subject in (platform, signed.sbom["digest"], signed.image.index_digest):
        assert index_of(mirror, target, subject) == index_of(upstream, parse(source), subject)
    mirror.close()
    upstream.close()


def test_a_subset_brings_only_its_platforms_referrers(testbed: Sandbox, name: str) -> None:
    source = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    code, [result] = sync_json(testbed, "--platform", signed.platform, f"{source}:1.0")
    assert code == 0 and result["status"] == "copied", result
    target = parse(result["target"])
    platform = signed.image.manifests[signed.platform]
    assert result["signatures"] == [str(target.with_tag(f"{r.referrers_tag(platform)}.sig"))]
    mirror = testbed.client()
    assert mirror.head_digest(target.with_digest(signed.sbom["digest"])) == signed.sbom["digest"]
    assert mirror.head_digest(target.with_digest(signed.sbom_signature["digest"])) is not None
    # upstream's index and its referrers point at nothing here: the subset index is ours
    assert mirror.head_digest(target.with_digest(signed.index_signature_referrer["digest"])) is None
    assert mirror.head_digest(target.with_tag(f"{r.referrers_tag(signed.image.index_digest)}.sig")) is None
    mirror.close()


def test_a_bound_reached_is_said_and_the_image_is_still_mirrored(testbed: Sandbox, name: str,
                                                               tmp_path: Path) -> None:
    source = f"docker.io/team/{name}"
    images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text(testbed.allowlist.read_text() + "  referrers_max_count: 2\n")
    done = run_cli("sync", "--json", f"{source}:1.0",
                   env=testbed.env(MIRROR_ALLOWLIST=str(allowlist)))
    code, [result] = done.returncode, json.loads(done.stdout)["results"]
    assert code == 0 and result["status"] == "copied"
    assert result["referrers_incomplete"] is True and sum(result["referrers"].values()) == 2
    # the run's log says why, for the maintainer
    assert "referrers left out:" in done.stderr and "past the bounds" in done.stderr
    # none: nothing comes along, and nothing is missing
    allowlist.write_text(testbed.allowlist.read_text() + "  referrers: none\n")
    code, [again] = sync_json(testbed, f"{source}:1.0", MIRROR_ALLOWLIST=str(allowlist))
    assert code == 0 and again["status"] == "unchanged"
    assert again["referrers"] == {} and again["referrers_incomplete"] is False


def test_the_no_op_check_reads_the_top_digest_and_a_new_signature_arrives(
        testbed: Sandbox, name: str) -> None:
    source = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    syncer = testbed.syncer()
    target = testbed.config().namer.target(parse(f"{source}:1.0"))
    first = syncer.sync(SyncItem(parse(f"{source}:1.0"), target))
    assert first.status == "copied" and first.referrer_set is not None and first.signed
    # as resync asks: with what the record holds, nothing upstream but HEADs, nothing written
    recorded = SyncItem(parse(f"{source}:1.0"), target, referrers=first.referrer_set)
    testbed.upstream.mark()
    testbed.mirror.mark()
    same = syncer.sync(recorded)
    assert same.status == "unchanged" and same.referrer_set == first.referrer_set
    assert same.pulls == 0 and same.referrers == {}
    upstream = Counter(m for m, path, _ in testbed.upstream.requests() if "/manifests/" in path)
    assert upstream == Counter({"HEAD": 1 + 1 + 3})  # the digest; sha256-<hex>; .sig .att .sbom
    assert [m for m, _, _ in testbed.mirror.requests() if m in {"PUT", "POST", "PATCH"}] == []
    # a signature published after the release reaches the mirror on the next check
    index_body = images.get_manifest(testbed.upstream.host, source, signed.image.index_digest)
    assert index_body is not None
    late = images.attach(testbed.upstream.host, source,
                         images.descriptor_of(signed.image.index_digest, index_body, images.OCI_INDEX),
                         r.NOTATION_SIGNATURE, b"a later signature")
    later = syncer.sync(recorded)
    assert later.status == "unchanged" and later.referrer_set != first.referrer_set
    assert later.referrers == {r.NOTATION_SIGNATURE: 1, r.SIGSTORE_BUNDLE: 1, r.COSIGN_SIGNATURE: 1}
    assert testbed.client().head_digest(target.with_digest(late["digest"])) == late["digest"]
    assert late["digest"] in index_of(testbed.client(), target, signed.image.index_digest)
    # a record marked incomplete copies again, the platforms' too
    retried = syncer.sync(SyncItem(parse(f"{source}:1.0"), target, referrers=later.referrer_set,
                                   referrers_incomplete=True))
    assert retried.status == "unchanged" and not retried.referrers_incomplete
    assert retried.referrers["application/spdx+json"] == 1


def test_the_issue_flow_says_what_came_along_and_records_it(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    source = f"docker.io/team/{name}"
    images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    issue = github.add_issue(f"{source}:1.0")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue["number"])) == 0
    [comment] = github.bot_comments(issue["number"])
    assert "came along: 4 signatures, 1 SBOM" in comment["body"]
    assert "docker pull" in comment["body"] and "helm pull" not in comment["body"]
    record = records.read(comment["body"])
    assert record is not None
    [image] = record.images
    assert image.signed and image.referrers is not None and not image.referrers_incomplete


def test_a_chart_request_gets_helm_lines(testbed: Sandbox, github: GitHubStandIn, tmp_path: Path,
                                         name: str) -> None:
    repository = f"docker.io/team/{name}"
    images.push_chart(testbed.upstream.host, repository, "redis", "20.1.0+build.3")
    issue = github.add_issue(f"oci://registry-1.docker.io/team/{name}:20.1.0_build.3")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue["number"])) == 0
    [comment] = github.bot_comments(issue["number"])
    target = f"{testbed.mirror.host}/docker.io/team/{name}"
    assert f"helm pull oci://{target} --version 20.1.0+build.3" in comment["body"]
    assert f"helm install {name} oci://{target} --version 20.1.0+build.3" in comment["body"]
    assert "docker pull" not in comment["body"]
    # asked again in a new issue: already current, still a chart's lines (read at the mirror)
    again = github.add_issue(f"registry-1.docker.io/team/{name}:20.1.0_build.3", author="bob")
    testbed.upstream.mark()
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", again["number"])) == 0
    [second] = github.bot_comments(again["number"])
    assert "helm pull oci://" in second["body"] and "docker pull" not in second["body"]
    assert all(m == "HEAD" for m, path, _ in testbed.upstream.requests() if "/manifests/" in path)


def test_a_quota_spent_during_referrers_leaves_the_image_mirrored_and_incomplete(
        testbed: Sandbox, tmp_path: Path, name: str) -> None:
    source = f"docker.io/team/{name}"
    signed = images.push_signed_image(testbed.workdir, testbed.upstream.host, source, "1.0", seed=name)
    with serve_proxy(FaultProxy(testbed.upstream.host, quota=PullQuota(100))) as hub:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{hub.host}/docker.io"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{hub.host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
        hub.refill(limit=1 + 2 + 2)  # the image, and two pulls of its eleven referrer reads
        credentials = Credentials()
        credentials.add(testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        client = RegistryClient(RegistriesConf.load(conf), credentials, 10, retry=QUICK,
                                mirrors=[testbed.mirror.host])
        syncer = Syncer(client, Skopeo(conf, credentials, timeout=120), QUICK,
                        staging=BlobStager(client, None))
        target = testbed.config().namer.target(parse(f"{source}:1.0"))
        result = syncer.sync(SyncItem(parse(f"{source}:1.0"), target, entries=3))
        assert result.status == "copied" and result.digest == signed.image.index_digest
        assert result.referrers_incomplete and result.error is None
        assert result.pulls == hub.quota.spent == 5 and hub.quota.refused == 0
        client.close()
