"""Reference grammar: table tests and properties."""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import MirrorBotError
from bot.reference import InvalidReference, Reference, parse

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
