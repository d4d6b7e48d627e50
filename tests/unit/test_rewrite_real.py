"""`rewrite --all` on files from public repositories (tests/data/rewrite/real, each naming its
source): the lines it changes, and every reference it leaves upstream named on stderr.

The allowlist admits the images these files pull from Docker Hub (library and splunk), quay.io,
registry.k8s.io, ghcr.io/jkroepke and gcr.io/distroless; redpanda and kube-rbac-proxy are denied.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.flows.rewrite import Mode, Streams, rewrite_files
from tests.fixtures import DATA

REAL = DATA / "rewrite" / "real"
MIRROR = "m.example.io"
ALLOWLIST = """\
allow:
  - docker.io/library/*
  - docker.io/splunk/*
  - quay.io/prometheus/**
  - quay.io/prometheus-operator/*
  - quay.io/thanos/*
  - registry.k8s.io/**
  - ghcr.io/jkroepke/*
  - gcr.io/distroless/*
"""
GLOBAL = ("global.image.registry (line 10) gives its registry, and is never rewritten: it also "
          "moves images these values do not name; point both at the mirror by hand")
CHART_TAG = "no tag in these values: the chart supplies it (often its appVersion); set tag to rewrite it"
BUILD_TIME = "the image is known only at build time"
DENIED = "is not in allowlist.yaml; to have it mirrored, propose it in a pull request to allowlist.yaml"

# file -> ({line: its text after the rewrite}, the lines naming what stays upstream)
CASES: dict[str, tuple[dict[int, str], list[str]]] = {
    # The registry comes from global.image.registry: no block may be rewritten, each is named.
    "values-ingress-nginx.yaml": ({}, [
        "18: registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594ceea76b01c592858f803f9ff4"
        f"d2cb40542cae2060410b2c95f75907d659e1 — {GLOBAL}",
        "40: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9@sha256:01038e7de14b78d702d"
        f"2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd — {GLOBAL}",
        f"56: registry.k8s.io/defaultbackend-amd64:1.5 — {GLOBAL}",
    ]),
    # Blocks under image.busybox and thanosImage are rewritten; tags left to the chart are named.
    "values-kube-prometheus-stack.yaml": ({
        14: f"        registry: {MIRROR}",
        15: "        repository: docker.io/library/busybox",
        38: f"      registry: {MIRROR}",
        39: "      repository: quay.io/prometheus/alertmanager",
        60: f"        registry: {MIRROR}",
        61: "        repository: ghcr.io/jkroepke/kube-webhook-certgen",
        87: f"    registry: {MIRROR}",
        88: "    repository: quay.io/thanos/thanos",
        99: f"      registry: {MIRROR}",
        100: "      repository: quay.io/prometheus/prometheus",
    }, [
        f"21: registry.k8s.io/kubectl — {CHART_TAG}",
        f"52: quay.io/prometheus-operator/admission-webhook — {CHART_TAG}",
        f"69: quay.io/prometheus-operator/prometheus-operator — {CHART_TAG}",
        f"80: quay.io/prometheus-operator/prometheus-config-reloader — {CHART_TAG}",
    ]),
    "prometheus-operator.Dockerfile": ({}, [
        "7: quay.io/prometheus/golang-builder:${GOLANG_BUILDER}-base — uses build arguments "
        f"(GOLANG_BUILDER=1.26 by default): {BUILD_TIME}",
        "20: quay.io/prometheus/busybox-${OS}-${ARCH}:latest — uses build arguments "
        f"(OS=linux by default, ARCH=amd64 by default): {BUILD_TIME}",
    ]),
    "prometheus.Dockerfile": ({}, [
        "5: quay.io/prometheus/busybox-${OS}-${ARCH}:latest — uses build arguments "
        f"(OS=linux by default, ARCH=amd64 by default): {BUILD_TIME}",
    ]),
    "ingress-nginx-custom-error-pages.Dockerfile": ({
        20: f"FROM {MIRROR}/gcr.io/distroless/static:nonroot",
    }, [
        f"6: golang:${{GOLANG_VERSION}}-alpine3.23 — uses build arguments (GOLANG_VERSION): {BUILD_TIME}",
    ]),
    "ingress-nginx-controller.Dockerfile": ({}, [
        "6: ${BASE_IMAGE} — a build argument (BASE_IMAGE) with no default before the first FROM: "
        f"{BUILD_TIME}",
    ]),
    # etl builds etl-kafka: that name is no source, so it is neither rewritten nor named.
    "compose-wasmedge-kafka-mysql.yml": ({
        37: f"    image: {MIRROR}/docker.io/library/mariadb:10.9",
    }, [
        "6: docker.redpanda.com/vectorized/redpanda:v22.2.2 — not allowed: "
        f"docker.redpanda.com/vectorized/redpanda {DENIED}",
    ]),
    "splunk-operator.clusterserviceversion.yaml": ({
        11: f"    containerImage: {MIRROR}/docker.io/splunk/splunk-operator@sha256:c4e0d31462269949"
            "6f675760aad314520d050a66627fdf33e1e21fa28ca85d50",
        47: f"                  value: {MIRROR}/docker.io/splunk/splunk:9.0.3-a2",
        50: f"                image: {MIRROR}/docker.io/splunk/splunk-operator:2.2.1",
        55: f"  - image: {MIRROR}/docker.io/splunk/splunk:9.0.3-a2",
    }, [
        "34: gcr.io/kubebuilder/kube-rbac-proxy:v0.13.0 — not allowed: "
        f"gcr.io/kubebuilder/kube-rbac-proxy {DENIED}",
    ]),
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    allowlist = tmp_path_factory.mktemp("real") / "allowlist.yaml"
    allowlist.write_text(ALLOWLIST)
    return load_config({"MIRROR_REGISTRY": MIRROR, "MIRROR_ALLOWLIST": str(allowlist)})


def run(config: Config, root: Path, name: str, mode: Mode) -> tuple[int, list[str]]:
    err = io.StringIO()
    code = rewrite_files([name], mode=mode, config=config, checker=None, root=root,
                         streams=Streams(None, io.BytesIO(), err))
    return code, err.getvalue().splitlines()


def test_every_real_file_has_a_case() -> None:
    assert sorted(path.name for path in REAL.iterdir()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_file_rewritten_exactly_and_what_stays_upstream_named(
        config: Config, tmp_path: Path, name: str) -> None:
    changed, upstream = CASES[name]
    shutil.copy(REAL / name, tmp_path / name)
    code, messages = run(config, tmp_path, name, Mode.WRITE)
    assert code == 0
    before = (REAL / name).read_text().splitlines()
    after = (tmp_path / name).read_text().splitlines()
    assert len(after) == len(before)
    assert {number: line for number, (old, line) in enumerate(zip(before, after, strict=True), 1)
            if old != line} == changed
    named = [f"{name}:{line}" for line in upstream]
    assert [line for line in messages if not line.startswith("rewrote ")] == named
    # Rewritten again: nothing changes, the same references are named, and --check fails on them.
    code, again = run(config, tmp_path, name, Mode.WRITE)
    assert (code, again, (tmp_path / name).read_text().splitlines()) == (0, named, after)
    code, checked = run(config, tmp_path, name, Mode.CHECK)
    assert code == 1
    assert checked[:-1] == named
    assert checked[-1].startswith(f"{len(upstream)} reference(s) would stay upstream")
