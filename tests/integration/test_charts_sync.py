"""A Helm chart pushed as an OCI artifact (as `helm push` stores it) is requested as people write
it and mirrored like an image: `mirror-bot sync` copies it with its upstream digest, and it is
read back at the mirror through skopeo and the registry client (no helm here)."""

from __future__ import annotations

import hashlib
import json
import subprocess

from bot.image import referrers as r
from bot.image.reference import parse
from sandbox import images
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, Sandbox, run_cli


def test_a_chart_written_as_helm_does_is_mirrored_with_its_digest(testbed: Sandbox, name: str) -> None:
    repository = f"docker.io/team/{name}"
    digest = images.push_chart(testbed.upstream.host, repository, "redis", "20.1.0")
    # `oci://registry-1.docker.io/...`: the scheme and Docker Hub's registry host are read away
    done = run_cli("sync", "--json", f"oci://registry-1.docker.io/team/{name}:20.1.0",
                   env=testbed.env())
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["status"] == "copied" and result["digest"] == digest
    target = result["target"]
    assert target == f"{testbed.mirror.host}/docker.io/team/{name}:20.1.0"
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"--creds={MIRROR_USER}:{MIRROR_PASSWORD}", f"docker://{target}"],
                         check=True, capture_output=True, timeout=60).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    chart = testbed.client().get_manifest(parse(target))
    assert chart is not None and chart.digest == digest and r.is_chart(chart)
    layer = chart.json()["layers"][0]
    assert layer["mediaType"] == r.HELM_CHART_LAYER
    # again: unchanged, nothing read upstream but two HEADs
    testbed.upstream.mark()
    again = run_cli("sync", "--json", f"registry-1.docker.io/team/{name}:20.1.0", env=testbed.env())
    assert json.loads(again.stdout)["results"][0]["status"] == "unchanged"
    assert all(method == "HEAD" for method, path, _ in testbed.upstream.requests()
               if "/manifests/" in path and not path.rsplit("/", 1)[1].startswith("sha256-"))
