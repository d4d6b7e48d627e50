"""Naming: mirrored addresses, and templates that could merge two sources are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.image.reference import parse
from bot.policy.naming import COLLISION_PROBES, Namer, NamingError, find_collisions

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(("source", "target"), [
    ("nginx", "m.example.io/docker.io/library/nginx:latest"),
    ("docker.io/library/ubuntu:24.04", "m.example.io/docker.io/library/ubuntu:24.04"),
    ("ghcr.io/fluxcd/flux-cli:v2.4.0", "m.example.io/ghcr.io/fluxcd/flux-cli:v2.4.0"),
    (f"nginx@{DIGEST}", f"m.example.io/docker.io/library/nginx@{DIGEST}"),
    (f"nginx:1@{DIGEST}", f"m.example.io/docker.io/library/nginx:1@{DIGEST}"),
    ("localhost:5000/a/b:1", "m.example.io/localhost-5000/a/b:1"),
])
def test_default_target(source: str, target: str) -> None:
    assert str(Namer("m.example.io").target(parse(source))) == target


def test_mirror_with_path() -> None:
    target = Namer("m.example.io/mirror").target(parse("nginx"))
    assert str(target) == "m.example.io/mirror/docker.io/library/nginx:latest"


def test_ipv6_registry_cannot_be_named() -> None:
    with pytest.raises(NamingError):
        Namer("m.example.io").target(parse("[::1]:5000/a"))


def test_default_template_passes_validation() -> None:
    Namer("m.example.io").validate()


@pytest.mark.parametrize("template", [
    "{{ mirror }}/{{ repository | replace('/', '-') }}",              # flattening
    "{{ mirror }}/{{ registry }}/{{ repository | replace('/', '-') }}",
    "{{ mirror }}/{{ repository }}",                                   # drops the registry
    "{{ mirror }}/{{ registry | replace('.', '-') }}/{{ repository }}",
])
def test_colliding_templates_are_refused(template: str) -> None:
    with pytest.raises(ConfigError, match="collides"):
        Namer("m.example.io", template).validate()


def test_flattening_template_really_collides() -> None:
    namer = Namer("m.example.io", "{{ mirror }}/{{ repository | replace('/', '-') }}")
    pairs = find_collisions(namer, [parse("docker.io/a/b-c"), parse("docker.io/a-b/c")])
    assert pairs


def test_double_underscore_flattening_still_collides() -> None:
    namer = Namer("m.example.io", "{{ mirror }}/{{ registry }}/{{ repository | replace('/', '__') }}")
    with pytest.raises(ConfigError, match="collides"):
        namer.validate()


def test_template_must_stay_under_the_mirror() -> None:
    with pytest.raises(ConfigError, match="must produce"):
        Namer("m.example.io", "evil.io/{{ repository }}").validate()


component = st.from_regex(r"[a-z0-9]{1,3}(?:[._-][a-z0-9]{1,3})?", fullmatch=True)
sources = st.builds(
    lambda registry, path, tag: parse(f"{registry}/{'/'.join(path)}:{tag}"),
    st.sampled_from(["docker.io", "ghcr.io", "quay.io", "localhost:5000", "r.example.com"]),
    st.lists(component, min_size=1, max_size=3),
    st.sampled_from(["1", "latest"]),
)


@given(st.lists(sources, max_size=20))
def test_default_naming_never_merges_two_sources(refs: list) -> None:  # type: ignore[type-arg]
    assert find_collisions(Namer("m.example.io"), refs) == []


def test_probes_are_valid_references() -> None:
    assert all(parse(p) for p in COLLISION_PROBES)


@given(st.lists(sources, min_size=1, max_size=20))
def test_default_fast_path_equals_the_template(refs: list) -> None:  # type: ignore[type-arg]
    fast = Namer("m.example.io")
    templated = Namer("m.example.io", "{{ mirror }}/{{ registry }}/{{ repository }} ")
    assert [fast.target(r) for r in refs] == [templated.target(r) for r in refs]


def test_every_mirror_and_both_docker_hub_forms() -> None:
    namer = Namer("m.example.io", also=("cn.example.io/mirror",))
    assert [str(t) for t in namer.targets(parse("docker.io/library/nginx:1.27"))] == [
        "m.example.io/docker.io/library/nginx:1.27", "m.example.io/docker.io/nginx:1.27",
        "cn.example.io/mirror/docker.io/library/nginx:1.27",
        "cn.example.io/mirror/docker.io/nginx:1.27"]
    assert [str(t) for t in namer.targets(parse("ghcr.io/acme/app@sha256:" + "a" * 64))] == [
        "m.example.io/ghcr.io/acme/app@sha256:" + "a" * 64,
        "cn.example.io/mirror/ghcr.io/acme/app@sha256:" + "a" * 64]
    assert namer.targets(parse("docker.io/bitnami/redis:7"))[1:] == [
        parse("cn.example.io/mirror/docker.io/bitnami/redis:7")]


def test_a_template_that_drops_library_serves_one_address_and_is_no_collision() -> None:
    namer = Namer("m.example.io", "{{ mirror }}/{{ registry }}/{{ repository | replace('library/', '') }}")
    namer.validate()
    assert [str(t) for t in namer.targets(parse("nginx:1"))] == ["m.example.io/docker.io/nginx:1"]
