"""Helm charts requested as people write them: `oci://` addresses (with or without the scheme,
Docker Hub as `registry-1.docker.io`) and Helm commands, read to the reference with a note, or
refused when the version is not one.

The command shapes are those of the charts' own READMEs: Bitnami's
(`helm install my-release oci://registry-1.docker.io/bitnamicharts/redis`, github.com/bitnami/
charts, bitnami/redis/README.md) and Flux's (`helm install -n flux-system flux
oci://ghcr.io/fluxcd-community/charts/flux2`, fluxcd-community/helm-charts)."""

from __future__ import annotations

import pytest

from bot.flows.plan import plan_request
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.request.address import DEFAULT_MIRROR_PREFIXES
from bot.request.title import parse_request

ALLOWLIST = "allow:\n  - docker.io/bitnamicharts/*\n  - ghcr.io/fluxcd-community/**\n"
OCI_NOTE = "oci:// is how Helm and ORAS write a registry address; read as the reference after it"
HUB_NOTE = "registry-1.docker.io is Docker Hub's registry; read as docker.io"


def read(title: str) -> list[tuple[str | None, list[str], str | None]]:
    request = parse_request(title, mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    return [(str(image.reference) if image.reference else None, [str(n) for n in image.notes],
             str(image.error) if image.error else None) for image in request.images]


@pytest.mark.parametrize(("title", "source", "notes"), [
    ("oci://registry-1.docker.io/bitnamicharts/redis:20.1.0", "docker.io/bitnamicharts/redis:20.1.0",
     [OCI_NOTE, HUB_NOTE]),
    ("registry-1.docker.io/bitnamicharts/redis:20.1.0", "docker.io/bitnamicharts/redis:20.1.0", [HUB_NOTE]),
    ("OCI://ghcr.io/fluxcd-community/charts/flux2:2.14.0", "ghcr.io/fluxcd-community/charts/flux2:2.14.0",
     [OCI_NOTE]),
    ("index.docker.io/bitnamicharts/redis:20.1.0", "docker.io/bitnamicharts/redis:20.1.0",
     ["index.docker.io is Docker Hub's registry; read as docker.io"]),
    ("docker.io/bitnamicharts/redis:20.1.0", "docker.io/bitnamicharts/redis:20.1.0", []),
    ("helm install my-release oci://registry-1.docker.io/bitnamicharts/redis --version 20.1.0",
     "docker.io/bitnamicharts/redis:20.1.0",
     ["read helm install --version 20.1.0 as the chart's tag", OCI_NOTE, HUB_NOTE]),
    ("helm pull oci://ghcr.io/fluxcd-community/charts/flux2 --version=2.14.0",
     "ghcr.io/fluxcd-community/charts/flux2:2.14.0",
     ["read helm pull --version 2.14.0 as the chart's tag", OCI_NOTE]),
    ("helm upgrade --install -n flux-system flux oci://ghcr.io/fluxcd-community/charts/flux2 "
     "--version 2.14.0", "ghcr.io/fluxcd-community/charts/flux2:2.14.0",
     ["read helm upgrade --version 2.14.0 as the chart's tag", OCI_NOTE]),
    ("helm pull oci://ghcr.io/fluxcd-community/charts/flux2:2.14.0",
     "ghcr.io/fluxcd-community/charts/flux2:2.14.0", [OCI_NOTE]),
    # Helm pushes a version with build metadata under a tag with `_` for `+`
    ("helm show values oci://ghcr.io/fluxcd-community/charts/flux2 --version 1.0.0+build.7",
     "ghcr.io/fluxcd-community/charts/flux2:1.0.0_build.7",
     ["read helm show values --version 1.0.0+build.7 as the chart's tag", OCI_NOTE]),
])
def test_a_chart_is_read_as_people_write_it(title: str, source: str, notes: list[str]) -> None:
    assert read(title) == [(source, notes, None)]


@pytest.mark.parametrize(("title", "error"), [
    ("helm install my-redis bitnami/redis", "helm install names no chart in a registry"),
    ("helm install my-redis oci://registry-1.docker.io/bitnamicharts/redis",
     "helm install without --version takes the chart's highest version"),
    ("helm pull oci://ghcr.io/fluxcd-community/charts/flux2 --version ^2.0.0",
     "^2.0.0 is not one version of oci://ghcr.io/fluxcd-community/charts/flux2"),
    ("helm pull oci://ghcr.io/fluxcd-community/charts/flux2 --version 2.x", "2.x is not one version"),
    ("helm pull oci://ghcr.io/fluxcd-community/charts/flux2:2.14.0 --version 2.13.0",
     "2.13.0 is not one version"),
    ("helm pull oci://a.io/x/one oci://a.io/x/two --version 1.0.0", "helm pull names no chart in a registry"),
])
def test_a_chart_whose_version_is_unsure_is_refused(title: str, error: str) -> None:
    [(source, _, refused)] = read(title)
    assert source is None and refused is not None and error in refused, refused


def test_a_chart_is_planned_to_its_mirrored_address() -> None:
    allowlist, problems = parse_allowlist(ALLOWLIST)
    assert problems == []
    plan = plan_request(parse_request("oci://registry-1.docker.io/bitnamicharts/redis:20.1.0",
                                      mirror_prefixes=DEFAULT_MIRROR_PREFIXES),
                        allowlist, Namer("m.example.io"))
    [image] = plan.images
    assert image.decision == "allowed"
    assert str(image.target) == "m.example.io/docker.io/bitnamicharts/redis:20.1.0"
