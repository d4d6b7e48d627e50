"""Tag selection on realistic tag lists (nginx, redis, postgres, a v-prefixed GitHub project),
the tag forms read as versions, npm ranges, and tag patterns with their cap."""

from __future__ import annotations

import contextlib
import re
from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import MirrorBotError
from bot.policy.tags import (
    TagRules,
    TooManyTags,
    VersionTag,
    check_glob,
    check_range,
    check_regex,
    check_tag,
    expand_pattern,
    order_tags,
    parse_version,
    select_tags,
)

NGINX = [
    "1", "1-alpine", "1-alpine-perl", "1-alpine-slim", "1-bookworm", "1-perl", "1.25", "1.25.5",
    "1.25.5-alpine", "1.26", "1.26-alpine", "1.26.0", "1.26.1", "1.26.2", "1.26.2-alpine",
    "1.26.2-alpine-slim", "1.26.2-bookworm", "1.26.2-perl", "1.27", "1.27-alpine", "1.27.0",
    "1.27.1", "1.27.2", "1.27.3", "1.27.3-alpine", "1.27.3-alpine3.20", "1.27.3-alpine-perl",
    "1.27.3-alpine-slim", "1.27.3-bookworm", "1.27.3-perl", "1.28.0-rc1", "1.28.0-rc1-alpine",
    "alpine", "alpine-perl", "alpine-slim", "bookworm", "latest", "mainline", "mainline-alpine",
    "perl", "stable", "stable-alpine",
]
REDIS = [
    "6.2", "6.2.16", "7", "7-alpine", "7.2", "7.2.6", "7.2.6-alpine", "7.4", "7.4-alpine", "7.4.1",
    "7.4.1-alpine", "7.4.1-bookworm", "8.0-M02", "8.0-M02-alpine", "8.0-rc1", "8.0-rc1-alpine",
    "alpine", "bookworm", "latest",
]
POSTGRES = [
    "15", "15.10", "15.10-alpine", "15.9", "16", "16.6", "16.6-alpine", "16.6-bullseye", "17",
    "17-alpine", "17.2", "17.2-alpine", "17.2-alpine3.21", "17.2-bookworm", "18beta1",
    "18beta1-alpine", "alpine", "bookworm", "latest",
]
FLUX = ["v2.3.0", "v2.4.0", "v2.4.0-rc.1", "v2.5.0-rc.1", "v2.5.0-rc.2", "latest", "main-1a2b3c"]


@pytest.mark.parametrize(("tag", "expected"), [
    ("1.27.3", VersionTag("1.27.3", 1, 27, 3)),
    ("v2.4.0", VersionTag("v2.4.0", 2, 4, 0)),
    ("17.2", VersionTag("17.2", 17, 2, 0, parts=2)),
    ("24.04", VersionTag("24.04", 24, 4, 0, parts=2)),
    ("1.27.3-alpine", VersionTag("1.27.3-alpine", 1, 27, 3, variant="alpine")),
    ("1.27.3-alpine3.20", VersionTag("1.27.3-alpine3.20", 1, 27, 3, variant="alpine3.20")),
    ("7.4.1-debian-12-r3", VersionTag("7.4.1-debian-12-r3", 7, 4, 1, variant="debian-12-r3")),
    ("1.28.0-rc1", VersionTag("1.28.0-rc1", 1, 28, 0, prerelease=("rc1",))),
    ("v2.5.0-rc.2", VersionTag("v2.5.0-rc.2", 2, 5, 0, prerelease=("rc", "2"))),
    ("1.28.0-rc1-alpine", VersionTag("1.28.0-rc1-alpine", 1, 28, 0, ("rc1",), "alpine")),
    ("8.0-M02", VersionTag("8.0-M02", 8, 0, 0, prerelease=("M02",), parts=2)),
    ("3.0.0-beta.2", VersionTag("3.0.0-beta.2", 3, 0, 0, prerelease=("beta", "2"))),
    ("1", None), ("latest", None), ("mainline", None), ("18beta1", None), ("1.2.3.4", None),
    ("1.27.3rc1", None), ("V1.2.3", None), ("main-1a2b3c", None), ("sha256-abc.sig", None),
])
def test_version_tags(tag: str, expected: VersionTag | None) -> None:
    assert parse_version(tag) == expected


def test_order_is_newest_version_first_then_the_rest_in_text_order() -> None:
    assert order_tags(["latest", "1.9.0", "1.10.0", "1.10.0-rc1", "1.10", "mainline", "1.10.0-alpine",
                       "v1.10.0"]) == ["1.10.0", "v1.10.0", "1.10.0-alpine", "1.10", "1.10.0-rc1", "1.9.0",
                                       "latest", "mainline"]


def pick(tags: list[str], **rules: object) -> list[str]:
    return list(select_tags(tags, TagRules(**rules)).tags)  # type: ignore[arg-type]


@pytest.mark.parametrize(("tags", "rules", "expected"), [
    # semver alone: plain versions only (no variants, no pre-releases, not `1` or `mainline`)
    (NGINX, {"semver": ">=1.26.0 <1.28.0"},
     ["1.27.3", "1.27.2", "1.27.1", "1.27.0", "1.27", "1.26.2", "1.26.1", "1.26.0", "1.26"]),
    # the design's example: semver + match + latest + include
    (NGINX, {"semver": ">=1.26.0 <1.28.0", "match": "*-alpine", "latest": 3, "include": ("mainline",)},
     ["1.27.3-alpine", "1.27-alpine", "1.26.2-alpine", "mainline"]),
    (NGINX, {"semver": ">=1.26.0 <1.28.0", "match": "*-alpine"},
     ["1.27.3-alpine", "1.27-alpine", "1.26.2-alpine", "1.26-alpine"]),
    (NGINX, {"latest": 2}, ["1.27.3", "1.27.2"]),
    (NGINX, {"semver": ">=1.28.0-rc.0"}, ["1.28.0-rc1"]),  # the range names a pre-release
    (NGINX, {"semver": "~1.27.0", "regex": r"^1\.27\.[0-9]+$"}, ["1.27.3", "1.27.2", "1.27.1", "1.27.0"]),
    (NGINX, {"match": "stable*"}, ["stable", "stable-alpine"]),
    (NGINX, {"regex": "1-.*"}, ["1-alpine", "1-alpine-perl", "1-alpine-slim", "1-bookworm", "1-perl"]),
    (NGINX, {"include": ("mainline", "stable")}, ["mainline", "stable"]),
    (NGINX, {"semver": ">=2"}, []),
    (REDIS, {"latest": 2}, ["7.4.1", "7.4"]),
    (REDIS, {"semver": "^7.2"}, ["7.4.1", "7.4", "7.2.6", "7.2"]),
    (REDIS, {"semver": ">=8.0.0-0"}, ["8.0-rc1", "8.0-M02"]),  # npm: -0 names every pre-release
    (REDIS, {"match": "*-alpine", "latest": 1}, ["7.4.1-alpine"]),
    (POSTGRES, {"semver": "16.x"}, ["16.6"]),
    (POSTGRES, {"latest": 3}, ["17.2", "16.6", "15.10"]),
    (POSTGRES, {"semver": ">=15 <17", "match": "*-alpine"}, ["16.6-alpine", "15.10-alpine"]),
    (FLUX, {"semver": "^2.4.0"}, ["v2.4.0"]),
    (FLUX, {"semver": ">=2.5.0-rc.0"}, ["v2.5.0-rc.2", "v2.5.0-rc.1"]),
    (FLUX, {"latest": 5}, ["v2.4.0", "v2.3.0"]),
    (FLUX, {"semver": "2.3.0 || 2.4.0"}, ["v2.4.0", "v2.3.0"]),
])
def test_selection_on_realistic_tag_lists(tags: list[str], rules: dict[str, object],
                                          expected: list[str]) -> None:
    assert pick(tags, **rules) == expected


def test_include_reports_tags_upstream_does_not_have() -> None:
    selection = select_tags(NGINX, TagRules(latest=1, include=("mainline", "nightly")))
    assert selection.tags == ("1.27.3", "mainline")
    assert selection.missing == ("nightly",)


def test_the_same_version_twice_prefers_the_full_tag() -> None:
    assert pick(["1.27", "1.27.0", "v1.27.0"], latest=2) == ["1.27.0", "v1.27.0"]


@pytest.mark.parametrize(("text", "tidy"), [
    (">=1.26.0 <1.28.0", ">=1.26.0 <1.28.0"),
    (">= 1.26.0   < 1.28.0", ">=1.26.0 <1.28.0"),
    ("~1.27", "~1.27"), ("^ 2", "^2"), ("1.x || 2.x", "1.x || 2.x"), ("1.2 - 1.4", "1.2 - 1.4"),
])
def test_ranges_are_tidied(text: str, tidy: str) -> None:
    assert check_range(text) == tidy


@pytest.mark.parametrize("text", ["", "   ", "garbage", ">=1.2 <", ">=a.b", "1.2.3 ||| 2", "x" * 300])
def test_bad_ranges_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"range|longer"):
        check_range(text)


@settings(deadline=None)
@given(st.text(max_size=120))
def test_any_range_text_is_accepted_or_refused(text: str) -> None:
    # Only ValueError escapes. (node-semver's regular expressions backtrack for seconds on 200
    # spaces, checked: one reason semantic_version's parser was chosen.)
    with contextlib.suppress(ValueError):
        check_range(text)


def test_hostile_range_whitespace_is_refused() -> None:
    with pytest.raises(ValueError):
        check_range("1.2.3" + " " * 240 + "<")


@pytest.mark.parametrize(("check", "text"), [
    (check_glob, "a b"), (check_glob, ""), (check_glob, "x/y"), (check_regex, "("), (check_regex, ""),
    (check_tag, "-bad"), (check_tag, ".x"), (check_tag, "a" * 129), (check_tag, "a:b"),
])
def test_rule_checks_refuse_bad_text(check, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        check(text)


# --- tag patterns in requests --------------------------------------------------------------------

def test_a_pattern_expands_newest_first() -> None:
    assert expand_pattern("1.27.?", NGINX, 20) == ["1.27.3", "1.27.2", "1.27.1", "1.27.0"]
    assert expand_pattern("1.26.*-alpine*", NGINX, 20) == ["1.26.2-alpine", "1.26.2-alpine-slim"]
    assert expand_pattern("9.*", NGINX, 20) == []
    assert expand_pattern("*a" * 40 + "*b", ["a" * 120], 20) == []  # no exponential backtracking


def test_a_pattern_over_the_cap_carries_the_count_and_the_first_matches() -> None:
    with pytest.raises(TooManyTags) as caught:
        expand_pattern("1.27*", NGINX, 5)
    error = caught.value
    assert isinstance(error, MirrorBotError)
    assert (error.count, error.cap) == (12, 5)
    assert error.first == ("1.27.3", "1.27.3-alpine", "1.27.3-alpine-perl", "1.27.3-alpine-slim",
                           "1.27.3-alpine3.20")
    assert str(error) == ("'1.27*' matches 12 tags, more than the 5 one request may ask for (first: "
                          "1.27.3, 1.27.3-alpine, 1.27.3-alpine-perl, 1.27.3-alpine-slim, "
                          "1.27.3-alpine3.20); narrow the pattern")


@pytest.mark.parametrize("pattern", ["1.[23]", "a b", "", "x/y", "*" * 129, ".1*", "-*"])
def test_only_star_and_question_mark_are_pattern_characters(pattern: str) -> None:
    """A tag pattern starts as a tag does (not with '.' or '-': the stricter of the two
    grammars this module and bot/image/reference.py had), the one grammar both use."""
    with pytest.raises(ValueError, match="not a tag pattern"):
        expand_pattern(pattern, NGINX, 20)


def reference_glob(text: str, pattern: str) -> bool:
    """`*` any run, `?` one character, by dynamic programming over prefixes."""
    matched = [True] + [False] * len(text)  # pattern[:0] against text[:j]
    for char in pattern:
        if char == "*":
            matched = [any(matched[: j + 1]) for j in range(len(text) + 1)]
        else:
            matched = [False] + [matched[j] and char in {"?", text[j]} for j in range(len(text))]
    return matched[-1]


tag_text = st.from_regex(re.compile(r"[a-z0-9][a-z0-9.-]{0,12}", re.ASCII), fullmatch=True)


@settings(deadline=None)
@given(st.lists(tag_text, max_size=30), st.from_regex(r"[a-z0-9*?][a-z0-9.*?-]{0,5}", fullmatch=True))
def test_expansion_equals_a_reference_matcher(tags: list[str], pattern: str) -> None:
    expected = sorted({t for t in tags if reference_glob(t, pattern)})
    assert sorted(expand_pattern(pattern, tags, cap=10_000)) == expected


versions = st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(0, 12)).map(
    lambda v: ".".join(map(str, v)))
suffixes = st.sampled_from(["", "-alpine", "-rc1", "-rc.2", "-beta.1-alpine", "-bookworm"])
realistic_tags = st.lists(st.one_of(st.builds(str.__add__, versions, suffixes),
                                    st.sampled_from(["latest", "mainline", "1", "stable"])), max_size=40)


@settings(deadline=None)
@given(realistic_tags, st.integers(1, 5))
def test_latest_is_the_highest_plain_versions(tags: list[str], latest: int) -> None:
    chosen = pick(tags, latest=latest)
    plain = {t for t in tags if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", t)}
    assert set(chosen) <= plain and len(chosen) == min(latest, len(plain))
    key = [tuple(map(int, t.split("."))) for t in chosen]
    assert key == sorted(key, reverse=True)
    assert all(tuple(map(int, t.split("."))) <= min(key) for t in plain - set(chosen))


@settings(deadline=None)
@given(realistic_tags, st.sampled_from(["*-alpine", "*", "1.*", "?.?.?"]))
def test_every_rule_given_holds(tags: list[str], glob: str) -> None:
    chosen = pick(tags, semver=">=1.0.0 <3.0.0", match=glob)
    for tag in chosen:
        version = parse_version(tag)
        assert fnmatchcase(tag, glob) and version is not None and not version.prerelease
        assert 1 <= version.major < 3
