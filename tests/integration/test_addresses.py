"""Every address an image is served under: Docker Hub's short form and several mirrors, each
written from the primary, verified, and reported on its own (issue "Fork and go")."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.image.reference import parse
from bot.records import record as records
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import SOURCE_PASSWORD, SOURCE_USER, Sandbox, deliver


def second_mirror(testbed: Sandbox, tmp_path: Path, *, password: str = SOURCE_PASSWORD,
                  ) -> dict[str, str]:
    """The test bed's other password-protected registry as a second mirror, its login in a
    containers auth file (MIRROR_USERNAME/PASSWORD are the primary's only)."""
    auth = tmp_path / "auth.json"
    login = base64.b64encode(f"{SOURCE_USER}:{password}".encode()).decode()
    auth.write_text(json.dumps({"auths": {testbed.private.host: {"auth": login}}}))
    return {"MIRROR_REGISTRY": f"{testbed.mirror.host},{testbed.private.host}/second",
            "REGISTRY_AUTH_FILE": str(auth)}


def uploads_to(registry_requests: list[tuple[str, str, int]], repository: str) -> list[str]:
    return [path for method, path, _ in registry_requests
            if method in {"POST", "PATCH", "PUT"} and f"/v2/{repository}/blobs/uploads/" in path
            and "mount=" not in path]


def test_both_hub_forms_serve_upstreams_digest(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    image = testbed.seed(name)
    testbed.upstream.mark()
    testbed.mirror.mark()
    issue = github.add_issue(f"docker pull {name}:1.0")["number"]
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue)) == 0
    canonical = f"{testbed.mirror.host}/docker.io/library/{name}:1.0"
    short = f"{testbed.mirror.host}/docker.io/{name}:1.0"
    client = testbed.client()
    assert client.head_digest(parse(canonical)) == client.head_digest(parse(short)) == \
        image.index_digest
    # The short form: blobs mounted from the canonical repository, manifests put; nothing
    # uploaded, nothing more read upstream than the one copy needs.
    requests = testbed.mirror.requests()
    assert uploads_to(requests, f"docker.io/{name}") == []
    assert any("mount=" in path and f"/v2/docker.io/{name}/" in path for _, path, _ in requests)
    upstream_gets = [p for m, p, _ in testbed.upstream.requests() if m == "GET" and "/manifests/" in p]
    assert all(f"/docker.io/library/{name}/" in p for p in upstream_gets)
    body = github.bot_comments(issue)[0]["body"]
    assert f"docker pull {short}" in body  # the form the user wrote comes first
    record = records.read(body)
    assert record is not None and record.images[0].target == canonical
    assert record.images[0].also == (short,)


def test_every_mirror_gets_every_image_verified(testbed: Sandbox, tmp_path: Path, name: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    image = testbed.seed(f"acme/{name}", prefix="ghcr.io", tag="2.0")
    env = testbed.env(**second_mirror(testbed, tmp_path))
    testbed.upstream.mark()
    assert main(["sync", "--json", f"ghcr.io/acme/{name}:2.0"], env) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    primary = f"{testbed.mirror.host}/ghcr.io/acme/{name}:2.0"
    second = f"{testbed.private.host}/second/ghcr.io/acme/{name}:2.0"
    assert result["target"] == primary and result["targets"] == [primary, second]
    assert [r["status"] for r in result["target_results"]] == ["copied"]
    second_client = testbed.client(with_mirror_creds=False)
    second_client.credentials.add(testbed.private.host, SOURCE_USER, SOURCE_PASSWORD)
    assert second_client.head_digest(parse(second)) == image.index_digest
    # The second mirror was filled from the primary: upstream served one copy.
    upstream_index_gets = [p for m, p, _ in testbed.upstream.requests()
                           if m == "GET" and p.endswith("/manifests/" + image.index_digest)]
    assert len(upstream_index_gets) == 1


def test_a_failure_on_one_mirror_is_reported_for_that_mirror(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    testbed.seed(f"acme/{name}", prefix="ghcr.io")
    issue = github.add_issue(f"ghcr.io/acme/{name}:1.0")["number"]
    broken = second_mirror(testbed, tmp_path, password="wrong-password")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue), **broken) == 0
    assert github.issues[issue]["state_reason"] == "completed"
    body = github.bot_comments(issue)[0]["body"]
    second = f"{testbed.private.host}/second/ghcr.io/acme/{name}:1.0"
    assert "not written to" in body and second in body
    record = records.read(body)
    assert record is not None and record.images[0].also == ()


def test_resync_fills_a_mirror_added_later_and_records_it(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    image = testbed.seed(f"acme/{name}", prefix="ghcr.io")
    issue = github.add_issue(f"ghcr.io/acme/{name}:1.0")["number"]
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue)) == 0
    env = testbed.env(GITHUB_REPOSITORY=github.repository, GITHUB_TOKEN=github.token,
                      GITHUB_API_URL=github.base_url, MIRROR_GITHUB_WRITE_INTERVAL="0",
                      **second_mirror(testbed, tmp_path))
    report = tmp_path / "report.json"
    assert main(["resync", "--output", str(report)], env) == 0
    [row] = json.loads(report.read_text())["results"]
    assert row["status"] == "unchanged" and [t["status"] for t in row["targets"]] == ["copied"]
    record = records.read(github.bot_comments(issue)[0]["body"])
    second = f"{testbed.private.host}/second/ghcr.io/acme/{name}:1.0"
    assert record is not None and record.images[0].also == (second,)
    assert record.images[0].digest == image.index_digest


def test_the_short_form_is_written_by_mounts_and_manifest_puts_alone(testbed: Sandbox,
                                                                     name: str) -> None:
    """No skopeo process and no upload for the second form: the registry API does it."""
    from bot.copy.model import SyncItem

    image = testbed.seed(name)
    config = testbed.config()
    source = parse(f"docker.io/library/{name}:1.0")
    target, *also = config.namer.targets(source)
    syncer = testbed.syncer()
    copies: list[str] = []
    real_copy = syncer.copier.copy

    def spy(source: object, destination: object, **options: object) -> None:
        copies.append(str(destination))
        real_copy(source, destination, **options)  # type: ignore[arg-type]

    syncer.copier.copy = spy  # type: ignore[method-assign]
    testbed.mirror.mark()
    result = syncer.sync(SyncItem(source, target, also=tuple(also)))
    assert result.status == "copied" and [a.status for a in result.also] == ["copied"]
    assert copies and all(f"/docker.io/library/{name}" in c for c in copies)
    assert testbed.client().head_digest(also[0]) == image.index_digest
    requests = testbed.mirror.requests()
    # Each blob mounted once, as its platform landed at the primary (not again afterwards);
    # the short form's tag put only after the primary's tag.
    mounts = [p for m, p, status in requests
              if m == "POST" and f"/v2/docker.io/{name}/blobs/uploads/?mount=" in p
              and status == 201]
    assert len(mounts) == len(set(mounts)) == len(image.blobs)
    tags = [p for m, p, status in requests if m == "PUT" and p.endswith(f"/{name}/manifests/1.0")
            and status == 201]
    assert tags == [f"/v2/docker.io/library/{name}/manifests/1.0",
                    f"/v2/docker.io/{name}/manifests/1.0"]
    order = [p for m, p, status in requests if m == "PUT" and "/manifests/" in p and status == 201]
    children = [p for p in order if p.startswith(f"/v2/docker.io/{name}/manifests/sha256:")]
    assert len(children) == len(image.manifests)  # the platforms, each put by digest once
    assert order.index(children[0]) < order.index(tags[0])  # as they landed, before the tag
