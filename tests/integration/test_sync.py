"""The sync engine against real registries: real skopeo, real bytes, real digests."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.copy.model import SyncItem
from bot.image.platform import Platform
from bot.image.reference import parse
from sandbox.images import push_artifact
from tests.fixtures import Sandbox, run_cli


def item(testbed: Sandbox, source: str, platforms: tuple[str, ...] = ()) -> SyncItem:
    ref = parse(source)
    return SyncItem(ref, testbed.config().namer.target(ref), tuple(map(Platform.parse, platforms)))


def mirror_blobs(testbed: Sandbox) -> set[str]:
    blob_dir = testbed.mirror.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return {f"sha256:{p.name}" for p in blob_dir.glob("*/*")}


def test_cold_copy_keeps_every_platform_and_the_digest(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name, platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    result = testbed.syncer().sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert result.status == "copied", result.error
    assert result.digest == image.index_digest
    assert testbed.client().head_digest(result.target) == image.index_digest
    mirrored = testbed.client().get_manifest(result.target)
    platforms = {m["platform"]["architecture"] for m in mirrored.json()["manifests"]}
    assert platforms == {"amd64", "arm64", "arm"}
    assert image.blobs <= mirror_blobs(testbed)


def test_second_sync_is_unchanged_and_costs_no_upstream_get(testbed: Sandbox, name: str) -> None:
    testbed.seed(name)
    syncer = testbed.syncer()
    assert syncer.sync(item(testbed, f"docker.io/library/{name}:1.0")).status == "copied"
    testbed.upstream.mark()
    testbed.mirror.mark()
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert result.status == "unchanged"
    upstream = testbed.upstream.manifest_requests()
    # the digest, then the no-op check of what hangs off it: the referrers tag schema's
    # sha256-<hex> and cosign's .sig/.att/.sbom (issue 26), all HEADs
    assert upstream["GET"] == 0 and upstream["HEAD"] == 1 + 1 + 3
    assert testbed.mirror.blob_uploads() == 0
    assert testbed.mirror.manifest_requests()["PUT"] == 0


def test_moved_upstream_tag_is_copied_again(testbed: Sandbox, name: str) -> None:
    testbed.seed(name, seed="first")
    syncer = testbed.syncer()
    first = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0"))
    moved = testbed.seed(name, seed="second")
    second = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert first.status == second.status == "copied"
    assert second.digest == moved.index_digest != first.digest
    assert testbed.client().head_digest(second.target) == moved.index_digest


def test_missing_tag_is_not_found_without_retries(testbed: Sandbox, name: str) -> None:
    testbed.upstream.mark()
    result = testbed.syncer().sync(item(testbed, f"docker.io/library/{name}:9.9"))
    assert result.status == "failed"
    assert result.error.kind == "not_found" and not result.transient
    assert testbed.upstream.manifest_requests()["HEAD"] == 1


def test_private_source_without_credentials_is_unauthorized(testbed: Sandbox, name: str) -> None:
    testbed.seed(name, registry=testbed.private, prefix="private.example.io")
    result = testbed.syncer().sync(item(testbed, f"private.example.io/{name}:1.0"))
    assert result.status == "failed" and result.error.kind == "unauthorized"


def test_mirror_without_credentials_is_unauthorized(testbed: Sandbox, name: str) -> None:
    testbed.seed(name)
    syncer = dataclasses.replace(testbed.syncer(), registry=testbed.client(with_mirror_creds=False))
    result = syncer.sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert result.status == "failed" and result.error.kind == "mirror_unauthorized"
    assert "fake-mirror-password" not in result.error.message


def test_one_platform_keeps_that_platforms_digest(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name, platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    result = testbed.syncer().sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",)))
    assert result.status == "copied", result.error
    index = testbed.client().get_manifest(result.target)
    assert [m["digest"] for m in index.json()["manifests"]] == [image.manifests["linux/arm64"]]
    assert result.digest == index.digest != image.index_digest
    assert "differs from upstream" in str(result.note)
    again = testbed.syncer().sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/arm64",)))
    assert again.status == "unchanged"


def test_missing_platform_names_the_available_ones(testbed: Sandbox, name: str) -> None:
    testbed.seed(name)
    result = testbed.syncer().sync(item(testbed, f"docker.io/library/{name}:1.0", ("linux/s390x",)))
    assert result.error.kind == "platform_unavailable"
    assert "linux/amd64" in result.error.message


def test_image_over_the_size_limit_is_not_copied(testbed: Sandbox, name: str) -> None:
    testbed.seed(name, layer_sizes=(300_000, 300_000))
    testbed.mirror.mark()
    result = testbed.syncer(max_size=500_000).sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert result.error.kind == "too_large"
    assert testbed.mirror.blob_uploads() == 0


def test_cosign_signature_tags_follow_the_image(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name)
    signature_tag = image.index_digest.replace(":", "-") + ".sig"
    signature = push_artifact(testbed.workdir / "sig" / name, signature_tag, b'{"critical":{}}',
                              f"{testbed.upstream.host}/docker.io/library/{name}:{signature_tag}")
    result = testbed.syncer().sync(item(testbed, f"docker.io/library/{name}:1.0"))
    assert result.status == "copied"
    assert result.signatures == [f"{testbed.mirror.host}/docker.io/library/{name}:{signature_tag}"]
    assert testbed.client().head_digest(parse(result.signatures[0])) == signature


def test_jobs_copy_several_images(testbed: Sandbox, name: str) -> None:
    images = {f"{name}-{i}": testbed.seed(f"{name}-{i}") for i in range(3)}
    items = [item(testbed, f"docker.io/library/{n}:1.0") for n in images]
    results = testbed.syncer().sync_all(items, jobs=3)
    assert [r.status for r in results] == ["copied"] * 3
    assert [r.digest for r in results] == [i.index_digest for i in images.values()]


def test_cli_sync_copies_then_reports_unchanged_then_not_found(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name, tag="24.04")
    first = run_cli("sync", "--json", f"docker.io/library/{name}:24.04", env=testbed.env())
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)["results"][0]
    assert (result["status"], result["digest"]) == ("copied", image.index_digest)
    assert result["target"] == f"{testbed.mirror.host}/docker.io/library/{name}:24.04"
    assert f"docker.io/library/{name}:24.04 ->" in first.stderr  # one progress line per image
    second = run_cli("sync", "--json", f"docker.io/library/{name}:24.04", env=testbed.env())
    assert json.loads(second.stdout)["results"][0]["status"] == "unchanged"
    missing = run_cli("sync", "--json", f"docker.io/library/{name}:0.0", env=testbed.env())
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["results"][0]["error"]["kind"] == "not_found"


@pytest.mark.parametrize("image", ["docker.io/library/forbidden:1", "evil.example.com/x:1"])
def test_cli_sync_refuses_what_the_allowlist_denies(testbed: Sandbox, image: str) -> None:
    testbed.mirror.mark()
    completed = run_cli("sync", "--json", image, env=testbed.env())
    assert completed.returncode == 1
    [result] = json.loads(completed.stdout)["results"]
    assert (result["status"], result["error"]["kind"]) == ("denied", "not_allowed")
    assert testbed.mirror.manifest_requests()["PUT"] == 0
