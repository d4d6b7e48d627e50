"""Reference grammar: table tests and properties."""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import MirrorBotError
from bot.image.reference import InvalidReference, Reference, TagPattern, is_tag_pattern, parse, parse_pattern

DIGEST = "sha256:" + "a" * 64

VALID = [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.27", "docker.io/library/nginx:1.27"),
    ("user/app", "docker.io/user/app:latest"),
    ("docker.io/nginx", "docker.io/library/nginx:latest"),
    ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
    ("registry-1.docker.io/bitnami/redis:7", "docker.io/bitnami/redis:7"),
    ("registry.hub.docker.com/user/app", "docker.io/user/app:latest"),
    ("ghcr.io/fluxcd/flux-cli:v2.4.0", "ghcr.io/fluxcd/flux-cli:v2.4.0"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b/c:tag", "localhost:5000/a/b/c:tag"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
    ("[::1]:5000/app:1", "[::1]:5000/app:1"),
    ("[2001:db8::1]/app", "[2001:db8::1]/app:latest"),
    (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
    (f"nginx:1.27@{DIGEST}", f"docker.io/library/nginx:1.27@{DIGEST}"),
    ("a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest"),
    ("quay.io/a/b:_tag", "quay.io/a/b:_tag"),
    ("Quay.IO/a/b", "quay.io/a/b:latest"),
    ("x:" + "t" * 128, "docker.io/library/x:" + "t" * 128),
]

INVALID = [
    ("", "empty"),
    ("Nginx", "lowercase"),
    ("docker.io/Library/nginx", "lowercase"),
    ("a//b", "empty path component"),
    ("a/", "empty path component"),
    ("a/../b", "'..'"),
    ("a/./b", "'.'"),
    ("-rm", "cannot start with '-'"),
    ("nginx latest", "whitespace"),
    ("nginx\tx", "whitespace"),
    ("nginx\x00", "control character"),
    ("ngіnx", "non-ASCII"),  # Cyrillic i
    ("nginx\u200b", "non-ASCII"),
    ("nginx@sha256:abc", "64 hex characters, this one has 3"),
    ("nginx@sha256:" + "A" * 64, "lowercase"),
    ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("nginx:-bad", "not a valid tag"),
    ("nginx:" + "t" * 129, "not a valid tag"),
    ("a_/b", "not a valid path component"),
    ("a..b/c", "not a valid"),
    ("-host.io/x", "cannot start with '-'"),
    ("host_.io/x", "not a valid registry host"),
    ("docker.io/" + "/".join(["abcdefghij"] * 25), "longer than 255"),
    ("a@b@c", "not a digest"),
    ("Foo/bar", "lowercase"),
    ("a" * 64, "image ID"),
    ("0123456789abcdef" * 4, "image ID"),
    ("nginx:1.*", "not a valid tag"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_references_normalise(text: str, expected: str) -> None:
    assert str(parse(text)) == expected


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_references_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse(text)
    assert reason in caught.value.reason


def test_tag_and_digest_are_both_kept() -> None:
    ref = parse(f"ghcr.io/a/b:v1@{DIGEST}")
    assert (ref.tag, ref.digest) == ("v1", DIGEST)
    assert ref.with_digest(DIGEST) == Reference("ghcr.io", "a/b", None, DIGEST)


SHELL_META = set(";|&$`<>(){}!*?~\\\"' \n\r\t")


@given(st.text(max_size=300))
def test_parse_only_raises_the_projects_error(text: str) -> None:
    with contextlib.suppress(MirrorBotError):
        parse(text)


@given(st.text(alphabet=string.ascii_letters + string.digits + "./:@_-[]", max_size=120))
def test_accepted_references_round_trip_and_are_safe(text: str) -> None:
    try:
        ref = parse(text)
    except InvalidReference:
        return
    rendered = str(ref)
    assert parse(rendered) == ref
    assert not rendered.startswith("-")
    assert not SHELL_META & set(rendered)
    assert rendered.isascii() and rendered.isprintable()


def test_sixty_four_hex_characters_are_an_image_id_only_alone() -> None:
    hex64 = "a" * 64
    assert str(parse(f"{hex64}:1")) == f"docker.io/library/{hex64}:1"
    assert str(parse(f"x/{hex64}")) == f"docker.io/x/{hex64}:latest"
    assert str(parse("a" * 63)) == f"docker.io/library/{'a' * 63}:latest"


PATTERNS = [
    ("nginx:1.27.*", TagPattern("docker.io", "library/nginx", "1.27.*")),
    ("docker.io/library/nginx:1.2?", TagPattern("docker.io", "library/nginx", "1.2?")),
    ("ghcr.io/a/b:*-alpine", TagPattern("ghcr.io", "a/b", "*-alpine")),
    ("localhost:5000/a:v*", TagPattern("localhost:5000", "a", "v*")),
    ("quay.io/a/b:*", TagPattern("quay.io", "a/b", "*")),
]
BAD_PATTERNS = [
    ("nginx:1.*@sha256:" + "a" * 64, "cannot be pinned"),
    ("nginx:.1*", "not a tag pattern"),
    ("nginx:1.*;id", "not a tag pattern"),
    ("Nginx:1.*", "lowercase"),
    ("nginx:" + "*" * 129, "not a tag pattern"),
    ("nginx", "needs ':'"),
]


@pytest.mark.parametrize(("text", "expected"), PATTERNS)
def test_tag_patterns_parse(text: str, expected: TagPattern) -> None:
    assert is_tag_pattern(text)
    pattern = parse_pattern(text)
    assert pattern == expected
    assert parse_pattern(str(pattern)) == pattern


@pytest.mark.parametrize(("text", "reason"), BAD_PATTERNS)
def test_bad_tag_patterns_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_pattern(text)
    assert reason in caught.value.reason


def test_only_the_tag_part_makes_a_pattern() -> None:
    assert not is_tag_pattern("nginx")
    assert not is_tag_pattern("nginx*")
    assert not is_tag_pattern("localhost:5000/nginx")
    assert not is_tag_pattern("nginx:1.27@sha256:" + "a" * 64)
    assert is_tag_pattern("localhost:5000/nginx:1.?")


def test_a_pattern_matches_only_valid_tags() -> None:
    pattern = parse_pattern("nginx:1.27*")
    assert [t for t in ("1.27", "1.27.3", "1.27-alpine", "1.28", "1.27\n", "1.27 x")
            if pattern.matches(t)] == ["1.27", "1.27.3", "1.27-alpine"]
    assert pattern.reference("1.27.3") == parse("nginx:1.27.3")
