"""The reference grammar's pieces (bot/image/grammar.py): what each accepts and refuses, how they
relate, and that no other module of bot/ writes the digest's pattern again."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.image import grammar
from tests.fixtures import REPO_ROOT

HEX64 = "0123456789abcdef" * 4
BOT = REPO_ROOT / "bot"


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    (grammar.PATH_COMPONENT_RE, "nginx", True),
    (grammar.PATH_COMPONENT_RE, "a.b_c__d---e", True),
    (grammar.PATH_COMPONENT_RE, "a..b", False),
    (grammar.PATH_COMPONENT_RE, "a___b", False),
    (grammar.PATH_COMPONENT_RE, "-a", False),
    (grammar.PATH_COMPONENT_RE, "a-", False),
    (grammar.PATH_COMPONENT_RE, "Nginx", False),
    (grammar.PATH_COMPONENT_RE, "nginx\n", False),
    (grammar.DOMAIN_RE, "docker.io", True),
    (grammar.DOMAIN_RE, "localhost:5000", True),
    (grammar.DOMAIN_RE, "[::1]:5000", True),
    (grammar.DOMAIN_RE, "My-Registry.example", True),
    (grammar.DOMAIN_RE, "-bad.example", False),
    (grammar.DOMAIN_RE, "bad-.example", False),
    (grammar.DOMAIN_RE, "a..b", False),
    (grammar.DOMAIN_RE, "host:port", False),
    (grammar.TAG_RE, "1.27.3-alpine", True),
    (grammar.TAG_RE, "_x", True),
    (grammar.TAG_RE, "a" * 128, True),
    (grammar.TAG_RE, "a" * 129, False),
    (grammar.TAG_RE, ".1", False),
    (grammar.TAG_RE, "-1", False),
    (grammar.TAG_RE, "a:b", False),
    (grammar.TAG_RE, "1.*", False),
    (grammar.TAG_RE, "ｖ1", False),  # a full-width letter: look-alikes never match
    (grammar.TAG_RE, "١", False),  # an Arabic-Indic digit is no \w of the grammar
    (grammar.TAG_GLOB_RE, "1.2[0-9]*", True),
    (grammar.TAG_GLOB_RE, "[!r]*", True),
    (grammar.TAG_GLOB_RE, ".*", True),
    (grammar.TAG_GLOB_RE, "*" * 128, True),
    (grammar.TAG_GLOB_RE, "*" * 129, False),
    (grammar.TAG_GLOB_RE, "", False),
    (grammar.TAG_GLOB_RE, "x/y", False),
    (grammar.TAG_PATTERN_RE, "1.27.*", True),
    (grammar.TAG_PATTERN_RE, "*-alpine", True),
    (grammar.TAG_PATTERN_RE, "?", True),
    (grammar.TAG_PATTERN_RE, "*" * 128, True),
    (grammar.TAG_PATTERN_RE, "*" * 129, False),
    (grammar.TAG_PATTERN_RE, ".1*", False),
    (grammar.TAG_PATTERN_RE, "-*", False),
    (grammar.TAG_PATTERN_RE, "1.[23]", False),
    (grammar.TAG_PATTERN_RE, "", False),
    (grammar.IMAGE_ID_RE, HEX64, True),
    (grammar.IMAGE_ID_RE, HEX64[:-1], False),
    (grammar.IMAGE_ID_RE, HEX64 + "0", False),
    (grammar.IMAGE_ID_RE, HEX64.upper(), False),
    (grammar.SHA256_DIGEST_RE, f"sha256:{HEX64}", True),
    (grammar.SHA256_DIGEST_RE, f"sha256:{HEX64.upper()}", False),
    (grammar.SHA256_DIGEST_RE, f"sha256:{HEX64[:-1]}", False),
    (grammar.SHA256_DIGEST_RE, f"sha512:{HEX64}{HEX64}", False),
    (grammar.SHA256_DIGEST_RE, f"sha256:{HEX64}\n", False),
    (grammar.SHA256_DIGEST_RE, HEX64, False),
    (grammar.DIGEST_RE, f"sha512:{HEX64}{HEX64}", True),
    (grammar.DIGEST_RE, "sha256:ABC", True),  # reference.py says what is wrong with its length
    (grammar.DIGEST_RE, "multihash+base58:abc", True),
    (grammar.DIGEST_RE, "sha256:", False),
    (grammar.DIGEST_RE, "256:abc", False),
])
def test_each_piece_accepts_its_grammar_and_nothing_else(pattern: re.Pattern[str], text: str,
                                                         matches: bool) -> None:
    assert bool(pattern.match(text)) is matches


def test_pieces_compose_into_larger_patterns() -> None:
    name = grammar.full(rf"(?:{grammar.DOMAIN}/)?{grammar.PATH_COMPONENT}"
                        rf"(?:/{grammar.PATH_COMPONENT})*(?::{grammar.TAG})?"
                        rf"(?:@{grammar.SHA256_DIGEST})?")
    assert name.match(f"localhost:5000/a/b:v1@sha256:{HEX64}")
    assert name.match("nginx")
    assert not name.match("nginx:")
    assert not name.match("a//b")


tags = st.from_regex(grammar.TAG_RE, fullmatch=True)


@given(tags)
def test_every_tag_is_a_tag_glob_and_a_tag_pattern(tag: str) -> None:
    assert grammar.TAG_GLOB_RE.match(tag)
    assert grammar.TAG_PATTERN_RE.match(tag)


@given(st.from_regex(grammar.TAG_PATTERN_RE, fullmatch=True))
def test_every_tag_pattern_is_a_tag_glob(pattern: str) -> None:
    assert grammar.TAG_GLOB_RE.match(pattern)


def test_the_digest_pattern_is_written_once_in_bot() -> None:
    """The length of a sha256 in hex appears in a pattern only in grammar.py: every other
    module checks a digest with grammar.SHA256_DIGEST_RE (or composes grammar.IDENTIFIER)."""
    written = {path.relative_to(BOT).as_posix(): path.read_text(encoding="utf-8").count("64}")
               for path in BOT.rglob("*.py")}
    assert {path: count for path, count in written.items() if count} == {"image/grammar.py": 1}
