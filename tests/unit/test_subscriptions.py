"""subscriptions.yaml: typed subscriptions, every problem with its line, the starter file and
its commented example, and the checker on hostile files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.image.reference import Reference
from bot.policy.subscriptions import (
    Subscription,
    check_subscriptions_file,
    load_subscriptions,
    parse_subscriptions,
)
from bot.policy.tags import TagRules, select_tags
from tests.fixtures import REPO_ROOT
from tests.unit.test_tags import NGINX

GOOD = """\
subscriptions:
  - image: docker.io/library/nginx
    tags:
      semver: ">=1.26.0 <1.28.0"
      match: "*-alpine"
      latest: 3
      include: [mainline]
  - image: ghcr.io/fluxcd/flux-cli
    tags:
      semver: ^2.4
      regex: "^v[0-9.]+$"
  - image: localhost:5000/team/app
    tags:
      include: [1.27, stable]
      semver: "1.27"
"""


def test_a_valid_file_gives_typed_subscriptions() -> None:
    subscriptions, problems = parse_subscriptions(GOOD)
    assert problems == []
    assert subscriptions == [
        Subscription("docker.io", "library/nginx",
                     TagRules(semver=">=1.26.0 <1.28.0", match="*-alpine", latest=3, include=("mainline",)),
                     2),
        Subscription("ghcr.io", "fluxcd/flux-cli", TagRules(semver="^2.4", regex="^v[0-9.]+$"), 8),
        # A tag in `include` written bare stays the text "1.27", not the number YAML would read;
        # `semver` and `match` must be text (a bare `semver: 8` is refused, see below).
        Subscription("localhost:5000", "team/app", TagRules(semver="1.27", include=("1.27", "stable")), 12),
    ]
    assert subscriptions[0].name == "docker.io/library/nginx"
    assert subscriptions[0].reference("1.27.3") == Reference("docker.io", "library/nginx", "1.27.3")
    assert select_tags(NGINX, subscriptions[0].rules).tags == (
        "1.27.3-alpine", "1.27-alpine", "1.26.2-alpine", "mainline")


@pytest.mark.parametrize(("text", "line", "message"), [
    ("subscriptions:\n  - image: nginx\n    tags: {latest: 1}\n", 2,
     "image: 'nginx' is not written normalised; write 'docker.io/library/nginx'"),
    ("subscriptions:\n  - image: docker.io/nginx\n    tags: {latest: 1}\n", 2,
     "write 'docker.io/library/nginx'"),
    ("subscriptions:\n  - image: docker.io/library/nginx:1.27\n    tags: {latest: 1}\n", 2,
     "must name one repository, without wildcards, tag or digest"),
    ("subscriptions:\n  - image: docker.io/library/*\n    tags: {latest: 1}\n", 2, "without wildcards"),
    ("subscriptions:\n  - image: ghcr.io/A/b\n    tags: {latest: 1}\n", 2, "lowercase"),
    ("subscriptions:\n  - image: [x]\n    tags: {latest: 1}\n", 2, "must be a repository"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      latest: 0\n", 4,
     "tags.latest: must be a whole number of at least 1"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      latest: two\n", 4, "tags.latest"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      semver: '>=1.2 <'\n", 4,
     "tags.semver: '>=1.2 <' is not an npm-style range"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      regex: '(unclosed'\n", 4,
     "tags.regex: '(unclosed' is not a regular expression"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      match: 'a b'\n", 4,
     "tags.match: 'a b' is not a tag glob"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      match: 5\n", 4,
     "tags.match: 5 is not text to YAML; write it in quotes if you meant it, e.g. '5'"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      semver: 8\n", 4,
     "tags.semver: 8 is not text to YAML; write it in quotes"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      match: true\n", 4,
     "tags.match: true is not text to YAML"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      match: [a]\n", 4,
     "tags.match: must be text"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      include: mainline\n", 4,
     "tags.include: must be a list of tags"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      include: [-x]\n", 4,
     "tags.include: '-x' is not a tag"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags:\n      newest: 3\n", 4,
     "tags: unknown key 'newest' (known: semver, match, regex, latest, include)"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags: {}\n", 3, "'tags' needs at least one of"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags: [latest]\n", 3, "'tags' must be a mapping"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n", 2, "missing 'tags'"),
    ("subscriptions:\n  - tags: {latest: 1}\n", 2, "missing 'image'"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    tags: {latest: 1}\n    platform: arm64\n", 4,
     "unknown key 'platform' (known: image, tags)"),
    ("subscriptions:\n  - image: ghcr.io/a/b\n    image: ghcr.io/a/c\n    tags: {latest: 1}\n", 3,
     "'image' appears twice"),
    ("subscriptions:\n  - ghcr.io/a/b\n", 2, "each subscription must be a mapping"),
    ("subscriptions: ghcr.io/a/b\n", 1, "'subscriptions' must be a list"),
    ("images: []\n", 1, "unknown key 'images' (known: subscriptions)"),
    ("images: []\n", None, "missing the 'subscriptions:' list"),
    ("", None, "the file is empty"),
    ("[1, 2]\n", 1, "the top level must be a mapping"),
    ("subscriptions: [\n", 2, "YAML error"),
    ("subscriptions: " + "[" * 5000 + "]" * 5000, 1, "YAML error: the document is nested too deeply"),
])
def test_problems_name_their_line(text: str, line: int | None, message: str) -> None:
    subscriptions, problems = parse_subscriptions(text)
    assert any(p.line == line and message in p.message for p in problems), problems
    assert subscriptions == []


def test_a_good_entry_next_to_a_bad_one_is_still_read() -> None:
    text = GOOD + "  - image: nginx\n    tags: {latest: 1}\n"
    subscriptions, problems = parse_subscriptions(text)
    assert len(subscriptions) == 3
    assert [str(p) for p in problems] == [
        "subscriptions.yaml:16: image: 'nginx' is not written normalised; write 'docker.io/library/nginx'"]


def test_an_empty_list_is_valid() -> None:
    assert parse_subscriptions("subscriptions:\n") == ([], [])
    assert parse_subscriptions("subscriptions: []\n") == ([], [])


def test_the_starter_file_is_valid_and_subscribes_to_nothing() -> None:
    assert check_subscriptions_file(REPO_ROOT / "subscriptions.yaml") == ([], [])


def test_the_starter_files_commented_example_is_valid() -> None:
    text = (REPO_ROOT / "subscriptions.yaml").read_text()
    example = text[text.index("#   subscriptions:"):].split("\n\n")[0]
    uncommented = re.sub(r"^#  ?", "", example, flags=re.MULTILINE)
    subscriptions, problems = parse_subscriptions(uncommented)
    assert problems == []
    assert [s.name for s in subscriptions] == ["docker.io/library/nginx"]


@pytest.mark.parametrize(("content", "message"), [
    (b"subscriptions:\n  - image: \xfe\n", ":2: the file is not UTF-8 text"),
    (None, ": cannot read the file: Is a directory"),
])
def test_unreadable_files_are_problems(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "subscriptions.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    _, problems = check_subscriptions_file(path)
    assert len(problems) == 1 and str(problems[0]).startswith(f"{path}{message}")
    with pytest.raises(ConfigError):
        load_subscriptions(path)


def test_load_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.yaml"
    path.write_text("subscriptions:\n  - image: nginx\n  - image: ghcr.io/a\n")
    with pytest.raises(ConfigError) as caught:
        load_subscriptions(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"invalid subscriptions: {path}:2: ")
    assert "more)" in message


def test_load_returns_the_subscriptions_of_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(GOOD)
    assert [s.line for s in load_subscriptions(path)] == [2, 8, 12]


yaml_like = st.lists(st.sampled_from([
    "subscriptions:", "  - ", "image: ", "tags:", "    ", "semver: ", "match: ", "regex: ", "latest: ",
    "include: ", "docker.io/library/nginx", "'>=1.2 <2'", "[", "]", "{", "}", "\n", "*", "&a", "*a",
    "3", "-1", "(", "^v", "~", "||", "!!int", "? ", "\x00",
]), max_size=50).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), yaml_like))
def test_checker_never_crashes_on_any_text(text: str) -> None:
    subscriptions, problems = parse_subscriptions(text)
    assert all(p.message for p in problems)
    assert all(isinstance(s.rules, TagRules) for s in subscriptions)
