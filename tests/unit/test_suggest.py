"""Near misses: allowlisted names within two edits, popular official images within one."""

from __future__ import annotations

import pytest

from bot.image.reference import parse
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.suggest import closest, popular_near_miss, popular_official_images, suggest

STARTER, _ = parse_allowlist("allow:\n  - docker.io/library/*\n  - ghcr.io/fluxcd/flux-cli\n"
                             "  - quay.io/prometheus/*\n")


def test_a_swapped_pair_is_one_edit() -> None:
    assert closest("ngnix", ["nginx", "redis"]) == "nginx"  # a swapped pair is one edit
    assert closest("nginx", ["nginx"]) is None  # never itself
    assert closest("abcdef", ["uvwxyz"]) is None  # nothing within two edits


def test_closest_never_returns_the_name_itself() -> None:
    assert closest("nginx", ["nginx", "nginy"]) == "nginy"
    assert closest("nginx", ["nginx"]) is None
    assert closest("redis", ["nginx", "mysql"]) is None


def test_the_popular_list_ships_with_the_package() -> None:
    names = popular_official_images()
    assert {"nginx", "redis", "postgres", "ubuntu", "alpine", "busybox"} <= names
    assert all(parse(name).repository == f"library/{name}" for name in names)


@pytest.mark.parametrize(("typed", "meant"), [
    ("ngnix:1.27", "docker.io/library/nginx:1.27"),
    ("nignx", "docker.io/library/nginx:latest"),
    ("reddis:7", "docker.io/library/redis:7"),
    ("postgre:16", "docker.io/library/postgres:16"),
    ("ubunut:24.04", "docker.io/library/ubuntu:24.04"),
    ("docker.io/library/alpin@sha256:" + "a" * 64, "docker.io/library/alpine@sha256:" + "a" * 64),
])
def test_popular_near_misses(typed: str, meant: str) -> None:
    near = popular_near_miss(parse(typed))
    assert near is not None and str(near) == meant


@pytest.mark.parametrize("typed", ["nginx", "redis:7", "ngnixx", "someuser/ngnix", "ghcr.io/a/ngnix",
                                   "my-private-app", "ng"])
def test_no_popular_near_miss(typed: str) -> None:
    assert popular_near_miss(parse(typed)) is None


def test_suggest_prefers_the_allowlist_and_only_offers_allowed_names() -> None:
    assert suggest("ghcr.io/fluxcd/flux-cil:v2", parse("ghcr.io/fluxcd/flux-cil:v2"),
                   STARTER) == "ghcr.io/fluxcd/flux-cli:v2"
    assert suggest("docker.io/library/nginx:1.27", None, STARTER) == "docker.io/library/nginx:1.27"
    assert suggest("docker.io/acme/nginx:1.27", None, STARTER) is None  # a did-you-mean not allowed
    assert suggest("quay.io/prometheus/ngnix", parse("docker.io/ngnix/x"), STARTER) is None
    narrow, _ = parse_allowlist("allow:\n  - ghcr.io/fluxcd/flux-cli\n")
    assert suggest("ngnix", parse("ngnix"), narrow) is None  # nginx is not allowed there
