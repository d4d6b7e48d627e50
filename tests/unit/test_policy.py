"""Allowlist: matching, deny precedence, digests, the index against brute force, validation
with file:line (patterns, settings, mirror, template), and the checker on hostile files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.image.platform import Platform
from bot.image.reference import Reference, parse
from bot.policy import yamlfile
from bot.policy.allowlist import Pattern, PatternIndex, normalise_pattern
from bot.policy.allowlist_file import check_allowlist_text, load_allowlist, parse_allowlist
from bot.policy.naming import parse_mirror_registries
from bot.policy.settings import MAX_REQUEST_IMAGES, SCHEMA, Settings
from bot.records.record import MAX_IMAGES
from tests.fixtures import REPO_ROOT

DIGEST = "sha256:" + "a" * 64


POLICY = """\
allow:
  - docker.io/library/*
  - docker.io/bitnami/**
  - ghcr.io/acme/app:v1.*
  - quay.io/team/*/tools
deny:
  - docker.io/library/forbidden
  - docker.io/bitnami/**:*-debug
  - docker.io/library/app:*-rc*
"""


def decide(text: str):  # type: ignore[no-untyped-def]
    allowlist, problems = parse_allowlist(POLICY)
    assert problems == []
    return allowlist.decide(parse(text))


@pytest.mark.parametrize(("image", "allowed"), [
    ("nginx", True),
    ("docker.io/library/nginx:1.27", True),
    ("docker.io/library/a/b", False),          # * is exactly one component
    ("docker.io/bitnami/redis", True),         # ** is one or more
    ("docker.io/bitnami/a/b/c", True),
    ("docker.io/library/forbidden", False),    # deny wins
    ("docker.io/bitnami/redis:7-debug", False),  # deny with a tag glob
    ("docker.io/bitnami/redis:7", True),
    ("ghcr.io/acme/app:v1.2", True),           # tag glob
    ("ghcr.io/acme/app:v2.0", False),
    (f"ghcr.io/acme/app@{DIGEST}", False),     # a tag glob needs a tag
    ("quay.io/team/x/tools", True),
    ("quay.io/team/x/y/tools", False),
    ("evil.com/docker.io/library/nginx", False),
    ("docker.io.evil.com/library/nginx", False),
    ("docker.io/library/app:2.0-rc1", False),  # denied by the tag glob
    ("docker.io/library/app:2.0-RC1", False),  # a deny tag glob ignores case (issue 27)
    ("docker.io/bitnami/redis:7-Debug", False),
    ("ghcr.io/acme/app:V1.2", False),          # an allow tag glob does not
    ("docker.io/library/app:2.0", True),
    (f"docker.io/library/app@{DIGEST}", False),  # digest alone: any deny on the repository
    (f"docker.io/bitnami/redis@{DIGEST}", False),
    (f"docker.io/library/app:2.0@{DIGEST}", True),  # the tag is what the deny glob judges
    (f"docker.io/library/nginx@{DIGEST}", True),
])
def test_matching(image: str, allowed: bool) -> None:
    assert decide(image).allowed is allowed


def test_decisions_name_the_rule_and_its_line() -> None:
    assert str(decide("nginx").reason) == "allowed by rule 'docker.io/library/*' (allowlist.yaml:2)"
    assert str(decide("docker.io/library/forbidden").reason) == (
        "denied by rule 'docker.io/library/forbidden' (allowlist.yaml:7)")
    assert str(decide("ghcr.io/acme/app:v2").reason).startswith(
        "ghcr.io/acme/app is allowlisted only for tags matching 'v1.*' (allowlist.yaml:4)")
    assert str(decide("quay.io/other/x").reason) == "quay.io/other/x is not in allowlist.yaml"


def test_digest_request_denied_by_a_tag_glob_rule_says_why() -> None:
    decision = decide(f"docker.io/library/app@{DIGEST}")
    assert str(decision.reason) == (
        "denied by rule 'docker.io/library/app:*-rc*' (allowlist.yaml:9): a request by digest "
        "alone could be any tag of docker.io/library/app, and this rule denies some of its tags; "
        "ask for it by tag")


def test_first_rule_in_the_file_decides_when_several_match() -> None:
    allowlist, _ = parse_allowlist("allow:\n  - ghcr.io/a/**\n  - ghcr.io/a/b\n  - ghcr.io/*/b\n")
    assert allowlist.decide(parse("ghcr.io/a/b")).rule.line == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("allow:\n  - nginx\n", 2, "write 'docker.io/library/nginx'"),
    ("allow:\n  - library/redis\n", 2, "write 'docker.io/library/redis'"),
    ("allow:\n  - index.docker.io/library/redis\n", 2, "write 'docker.io/library/redis'"),
    ("allow:\n  - docker.io/redis\n", 2, "write 'docker.io/library/redis'"),
    ("allow:\n  - GHCR.io/a\n", 2, "write 'ghcr.io/a'"),
    ("allow:\n  - ghcr.io/a//b\n", 2, "empty component"),
    ("allow:\n  - ghcr.io/A/b\n", 2, "lowercase"),
    ("allow:\n  - ghcr.io/a/b:bad tag\n", 2, "whitespace"),
    ("allow:\n  - ghcr.io/a/b:v1/x\n", 2, "not a valid path component"),
    ("allow:\n  - bad_host.io/a\n", 2, "not a valid registry host"),
    ("allow:\n  - 42\n", 2, "must be strings"),
    ("allow:\n  - [a]\n", 2, "must be strings"),
    ("allow: ghcr.io/a\n", 1, "'allow' must be a list"),
    ("allow: [ghcr.io/a\n", 2, "YAML error"),
    ("allow:\n  - ghcr.io/a\nextra: 1\n", 3, "unknown key 'extra'"),
    ("allow:\n  - ghcr.io/a\n? [x]\n: 1\n", 3, "a key that is not text"),
    ("allow:\n  - ghcr.io/a\nallow:\n  - ghcr.io/b\n", 3, "'allow' appears twice (first at line 1)"),
    ("deny:\n  - ghcr.io/a\n", None, "missing the 'allow:' list"),
    ("", None, "the file is empty"),
    ("- ghcr.io/a\n", 1, "the top level must be a mapping"),
])
def test_load_reports_line_and_problem(text: str, line: int | None, message: str) -> None:
    _, problems = parse_allowlist(text)
    assert any(p.line == line and message in p.message for p in problems), problems


@pytest.mark.parametrize(("text", "line", "message"), [
    ("allow:\n  - docker.io/library/*\n  - docker.io/library/nginx\n", 3,
     "'docker.io/library/nginx' is shadowed by the wider 'docker.io/library/*' (line 2)"),
    ("allow:\n  - docker.io/a/**\n  - docker.io/a/*/c\n", 3, "shadowed by the wider"),
    ("allow:\n  - ghcr.io/a/*\n  - ghcr.io/a/*\n", 3,
     "duplicate allow entry 'ghcr.io/a/*' (first at line 2)"),
    ("allow:\n  - ghcr.io/a:1.0\n  - ghcr.io/a:1.0\n", 3, "duplicate allow entry"),
    ("allow:\n  - ghcr.io/a:1.*\n  - ghcr.io/a:1.0\n", 3, "shadowed by the wider 'ghcr.io/a:1.*'"),
    ("allow:\n  - ghcr.io/x\ndeny:\n  - ghcr.io/**\n  - ghcr.io/a/b:*-rc*\n", 5,
     "deny entry 'ghcr.io/a/b:*-rc*' is shadowed by the wider 'ghcr.io/**' (line 4)"),
    # Deny tag globs ignore case, in the check of one pattern against another too (issue 27).
    ("allow:\n  - ghcr.io/x\ndeny:\n  - ghcr.io/a/b:*-rc*\n  - ghcr.io/a/b:*-RC*\n", 5,
     "deny entry 'ghcr.io/a/b:*-RC*' is shadowed by the wider 'ghcr.io/a/b:*-rc*' (line 4)"),
    ("allow:\n  - ghcr.io/x\ndeny:\n  - ghcr.io/a/b:2.0-RC1\n  - ghcr.io/a/b:2.0-rc1\n", 5,
     "deny entry 'ghcr.io/a/b:2.0-rc1' is shadowed by the wider 'ghcr.io/a/b:2.0-RC1' (line 4)"),
    ("allow:\n  - ghcr.io/x\ndeny:\n  - ghcr.io/a/b:*-rc*\n  - ghcr.io/a/b:2.0-RC1\n", 5,
     "shadowed by the wider 'ghcr.io/a/b:*-rc*' (line 4)"),
])
def test_check_reports_overlaps_that_loading_does_not(text: str, line: int, message: str) -> None:
    _, load_problems = parse_allowlist(text)
    assert load_problems == []
    _, problems = check_allowlist_text(text)
    assert [(p.line, message in p.message) for p in problems] == [(line, True)], problems


def test_narrower_tag_glob_is_shadowed_but_wider_is_not() -> None:
    _, problems = check_allowlist_text("allow:\n  - ghcr.io/a/b:v1.*\n  - ghcr.io/a/*\n")
    assert [p.line for p in problems] == [2]


def test_allow_tag_globs_that_differ_in_case_are_both_kept() -> None:
    _, problems = check_allowlist_text("allow:\n  - ghcr.io/a/b:V1.*\n  - ghcr.io/a/b:v1.*\n"
                                       "  - ghcr.io/a/b:RC1\n  - ghcr.io/a/b:rc1\n")
    assert problems == []


def settings_of(body: str) -> tuple[Settings, list[str]]:
    allowlist, problems = parse_allowlist("allow:\n  - ghcr.io/a\nsettings:\n" + body)
    return allowlist.settings, [f"{p.line}: {p.message}" for p in problems]


def test_settings_defaults() -> None:
    settings_, problems = settings_of("  max_images_per_issue: 10\n")
    assert problems == []
    assert settings_ == Settings()
    assert (settings_.mirrors, settings_.language, settings_.mirror_prefixes,
            settings_.max_tags_per_request, settings_.max_new_tags_per_follow) == ((), "en", None, 20, 50)


@pytest.mark.parametrize(("body", "attribute", "value"), [
    ("  mirror_registry: m.example.io\n", "mirrors", ("m.example.io",)),
    ("  mirror_registry: M.Example.IO:5000/Team\n", None, None),  # a path is case-sensitive
    ("  mirror_registry: M.Example.io\n", "mirrors", ("m.example.io",)),
    ("  mirror_registry: 'm.example.io/, mirror.cn.example:443/hub'\n", "mirrors",
     ("m.example.io", "mirror.cn.example:443/hub")),
    ("  target_template: '{{ mirror }}/{{ registry }}/{{ repository }}'\n", "target_template",
     "{{ mirror }}/{{ registry }}/{{ repository }}"),
    ("  max_images_per_issue: 3\n", "max_images_per_issue", 3),
    ("  max_open_requests_per_user: 2\n", "max_open_requests_per_user", 2),
    ("  platforms: [arm64, linux/arm/v7]\n", "platforms",
     (Platform("linux", "arm64"), Platform("linux", "arm", "v7"))),
    ("  max_image_size: 1.5GiB\n", "max_image_size", int(1.5 * 2**30)),
    ("  max_image_size: 1000\n", "max_image_size", 1000),
    ("  language: zh-CN\n", "language", "zh-CN"),
    ("  mirror_prefixes:\n    M.DaoCloud.io: ''\n    docker.m.daocloud.io/: Docker.io\n", "mirror_prefixes",
     {"m.daocloud.io": "", "docker.m.daocloud.io": "docker.io"}),
    ("  mirror_prefixes: {}\n", "mirror_prefixes", {}),
    ("  max_tags_per_request: 5\n", "max_tags_per_request", 5),
    ("  max_new_tags_per_follow: 7\n", "max_new_tags_per_follow", 7),
    ("  max_tags_per_request: 100\n", "max_tags_per_request", 100),
    ("  max_images_per_issue: 100\n", "max_images_per_issue", 100),
    ("  max_request_size: 50GiB\n", "max_request_size", 50 * 2**30),
])
def test_each_setting_is_converted(body: str, attribute: str | None, value: object) -> None:
    settings_, problems = settings_of(body)
    if attribute is None:
        assert problems and "Team" in problems[0]
        return
    assert problems == []
    assert getattr(settings_, attribute) == value


@pytest.mark.parametrize(("body", "line", "message"), [
    ("  max_images_per_issue: 0\n", 4, "settings.max_images_per_issue: must be a whole number of at least 1"),
    ("  max_open_requests_per_user: true\n", 4, "at least 1"),
    ("  max_tags_per_request: -1\n", 4, "settings.max_tags_per_request: must be a whole number"),
    ("  max_new_tags_per_follow: many\n", 4, "settings.max_new_tags_per_follow: must be a whole number"),
    # One issue's record holds at most 100 images (issue 27 item 2): no request may ask for more.
    ("  max_tags_per_request: 101\n", 4, "settings.max_tags_per_request: must be at most 100"),
    ("  max_images_per_issue: 500\n", 4, "settings.max_images_per_issue: must be at most 100"),
    ("  max_request_size: some\n", 4, "settings.max_request_size: 'some' is not a size"),
    ("  platforms: [arm64x]\n", 4, "os/arch"),
    ("  platforms:\n    - linux/amd64\n    - plan10/amd64\n", 6, "unknown operating system 'plan10'"),
    ("  platforms: linux/amd64\n", 4, "must be a list like [linux/amd64, linux/arm64]"),
    ("  max_image_size: lots\n", 4, "not a size"),
    ("  max_image_size: 0\n", 4, "not a size"),
    ("  language: fr\n", 4, "'fr' is not a language this bot speaks (one of en, zh-CN)"),
    ("  language: zh_cn\n", 4, "write 'zh-CN'"),
    ("  mirror_prefixes: [m.daocloud.io]\n", 4, "settings.mirror_prefixes: must be a mapping like"),
    ("  mirror_prefixes:\n    ok.example: ''\n    'https://x.example': docker.io\n", 6,
     "settings.mirror_prefixes: 'https://x.example' does not start with a registry host"),
    ("  mirror_prefixes:\n    ok.example: [x]\n", 5, "must map to a registry name"),
    ("  mirror_registry: 'http://m.example.io'\n", 4,
     "settings.mirror_registry: 'http://m.example.io' has a scheme; write it as host[:port][/path], "
     "e.g. 'm.example.io'"),
    ("  mirror_registry: m.example.io:99999\n", 4, "port 99999 is out of range (1-65535)"),
    ("  mirror_registry: m.example.io:0\n", 4, "port 0 is out of range"),
    ("  mirror_registry: 'a.example,,b.example'\n", 4, "empty entry between commas"),
    ("  mirror_registry: 'a.example, A.example'\n", 4, "listed twice"),
    ("  mirror_registry: bad_host\n", 4, "not a registry host"),
    ("  mirror_registry: 5000\n", 4, "must be host[:port][/path]"),
    ("  target_template: ''\n", 4, "non-empty string"),
    ("  target_template: \"{{ mirror }}/{{ repository | replace('/', '-') }}\"\n", 4,
     "settings.target_template: naming template collides"),
    ("  target_template: '{{ mirror }}/{{ repository }}'\n", 4, "naming template collides"),
    ("  target_template: '{{ mirror }/x'\n", 4, "settings.target_template: naming template does not compile"),
    ("  target_template: 'elsewhere.example/{{ registry }}/{{ repository }}'\n", 4,
     "must produce 'mirror.example/...'"),
    ("  target_template: '{{ mirror }}/{{ nothing }}'\n", 4, "naming template failed"),
    ("  unknown_setting: 1\n", 4, "settings: unknown key 'unknown_setting' (known: mirror_registry,"),
    ("  language: en\n  language: en\n", 5, "'language' appears twice"),
])
def test_setting_problems_name_their_line(body: str, line: int, message: str) -> None:
    _, problems = settings_of(body)
    assert any(p.startswith(f"{line}: ") and message in p for p in problems), problems


def test_the_request_limit_is_what_a_record_holds() -> None:
    assert MAX_REQUEST_IMAGES == MAX_IMAGES
    assert Settings().max_request_size is None  # unset by default


def test_template_is_checked_under_every_configured_mirror() -> None:
    body = ("  mirror_registry: 'm.example.io, m2.example.io'\n"
            "  target_template: 'm.example.io/{{ registry }}/{{ repository }}'\n")
    _, problems = settings_of(body)
    assert len(problems) == 1 and problems[0].startswith("5: settings.target_template: ")
    assert "must produce 'm2.example.io/...'" in problems[0]


def test_settings_is_not_a_mapping() -> None:
    _, problems = settings_of("  - a\n")
    assert problems == ["4: 'settings' must be a mapping"]


def test_schema_covers_every_settings_field() -> None:
    assert {field.attribute for field in SCHEMA.values()} == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize(("text", "expected"), [
    ("m.example.io", ("m.example.io",)),
    ("  M.Example.io/  ", ("m.example.io",)),
    ("localhost:5000/a/b", ("localhost:5000/a/b",)),
    ("[::1]:5000", ("[::1]:5000",)),
    ("m.example.io:65535", ("m.example.io:65535",)),
    ("a.example,b.example/x", ("a.example", "b.example/x")),
])
def test_mirror_registries_are_normalised(text: str, expected: tuple[str, ...]) -> None:
    assert parse_mirror_registries(text) == expected


@pytest.mark.parametrize("text", [
    "http://m.example.io", "https://m.example.io/", "m.example.io:65536", "", " , ", "a,,b",
    "m.example.io/Path", "m.example.io/a//b", "-bad.example", "m.example.io:port",
])
def test_bad_mirror_registries_are_one_line_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mirror_registries(text)
    assert "\n" not in str(caught.value) and str(caught.value)


DEEP = "allow: " + "[" * 5000 + "]" * 5000 + "\n"


def test_nesting_too_deep_for_the_pure_python_composer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlfile, "Loader", yaml.SafeLoader)  # PyYAML built without libyaml
    _, problems = check_allowlist_text(DEEP)
    assert [str(p) for p in problems] == ["allowlist.yaml: YAML error: the document is nested too deeply"]


def test_deep_values_inside_settings_are_ordinary_problems() -> None:
    _, problems = settings_of("  platforms: " + "[" * 900 + "]" * 900 + "\n")
    assert problems == ["4: settings.platforms: each entry must be os/arch, e.g. linux/arm64"]


def test_load_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text("allow:\n  - nginx\n  - Bad\n")
    with pytest.raises(ConfigError) as caught:
        load_allowlist(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid allowlist: {path}:2: 'nginx' is not written normalised")
    assert "(and 1 more)" in message and "check-allowlist" in message


def test_starter_allowlist_is_valid_and_allows_nginx() -> None:
    allowlist, problems = check_allowlist_text((REPO_ROOT / "allowlist.yaml").read_text())
    assert problems == []
    assert allowlist.decide(parse("nginx")).allowed
    assert allowlist.decide(parse("registry.k8s.io/kube-apiserver:v1.31.0")).allowed
    assert not allowlist.decide(parse("docker.io/library/nginx:1.27-rc1")).allowed


def test_starter_allowlist_documents_every_setting_with_a_valid_example() -> None:
    text = (REPO_ROOT / "allowlist.yaml").read_text()
    documented = re.findall(r"^  #? ?(\w+): (.+)$", text, re.MULTILINE)
    assert {name for name, _ in documented} >= set(SCHEMA)
    body = "".join(f"  {name}: {value}\n" for name, value in documented if name in SCHEMA)
    _, problems = settings_of(body)
    assert problems == []


REGISTRIES = ["ghcr.io", "quay.io"]


COMPONENTS = ["a", "b", "c"]


path_parts = st.lists(st.sampled_from([*COMPONENTS, "*", "**"]), min_size=1, max_size=4)


tag_globs = st.sampled_from([None, "1.0", "2.0", "1.*", "*", "*-rc*", "*-RC*", "3.0-RC1", "?.0"])


patterns_strategy = st.lists(st.tuples(st.sampled_from(REGISTRIES), path_parts, tag_globs), max_size=12)


refs_strategy = st.tuples(st.sampled_from(REGISTRIES),
                          st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=5),
                          st.sampled_from([None, "1.0", "2.0", "1.5", "3.0-rc1", "3.0-RC1"]))


def make_patterns(specs: list[tuple[str, list[str], str | None]],
                  ignore_case: bool = False) -> tuple[Pattern, ...]:
    return tuple(Pattern(f"{r}/{'/'.join(p)}" + (f":{t}" if t else ""), r, tuple(p), t, line,
                         ignore_case=ignore_case)
                 for line, (r, p, t) in enumerate(specs, 1))


def reference_path_match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Component by component, by recursion: an implementation independent of the regexes."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(reference_path_match(rest, path[n:]) for n in range(1, len(path) + 1))
    return bool(path) and head in {"*", path[0]} and reference_path_match(rest, path[1:])


def reference_matches(pattern: Pattern, ref: Reference, any_tag: bool) -> bool:
    if pattern.registry != ref.registry:
        return False
    if not reference_path_match(pattern.path, tuple(ref.repository.split("/"))):
        return False
    if any_tag or pattern.tag_glob is None:
        return True
    glob = re.escape(pattern.tag_glob).replace(r"\*", ".*").replace(r"\?", ".")
    flags = re.IGNORECASE if pattern.ignore_case else re.NOFLAG
    return ref.tag is not None and re.fullmatch(glob, ref.tag, flags) is not None


@settings(max_examples=300, deadline=None)
@given(patterns_strategy, refs_strategy, st.booleans(), st.booleans())
def test_index_finds_exactly_what_a_scan_finds(specs, ref_spec, any_tag, ignore_case) -> None:  # type: ignore[no-untyped-def]
    patterns = make_patterns(specs, ignore_case)
    registry, path, tag = ref_spec
    ref = Reference(registry, "/".join(path), tag, None if tag else DIGEST)
    expected = [p for p in patterns if reference_matches(p, ref, any_tag)]
    assert PatternIndex(patterns).matching(ref, any_tag=any_tag) == expected


def brute_force_overlaps(patterns: tuple[Pattern, ...]) -> list[tuple[int | None, str]]:
    found = []
    for i, pattern in enumerate(patterns):
        earlier_same = [o for o in patterns[:i] if o.text == pattern.text]
        if earlier_same:
            found.append((pattern.line, f"duplicate of line {earlier_same[0].line}"))
            continue
        for j, other in enumerate(patterns):
            if other.text != pattern.text and other.covers(pattern) and (j < i or not pattern.covers(other)):
                found.append((pattern.line, f"shadowed by line {other.line}"))
                break
    return found


@settings(max_examples=300, deadline=None)
@given(patterns_strategy, st.sampled_from(["allow", "deny"]))
def test_overlap_check_equals_the_quadratic_check(specs, kind) -> None:  # type: ignore[no-untyped-def]
    entries = "".join(f"  - '{p.text}'\n" for p in make_patterns(specs))
    text = ("" if kind == "allow" else "allow: []\n") + f"{kind}:\n{entries}" if specs else (
        "allow: []\n")
    allowlist, problems = check_allowlist_text(text)
    got = []
    for problem in problems:
        duplicate = re.search(r"first at line (\d+)", problem.message)
        shadowed = re.search(r"shadowed by .*\(line (\d+)\)", problem.message)
        assert duplicate or shadowed, problem
        got.append((problem.line, f"duplicate of line {duplicate[1]}" if duplicate
                    else f"shadowed by line {shadowed[1]}"))  # type: ignore[index]
    assert got == brute_force_overlaps(allowlist.allow if kind == "allow" else allowlist.deny)


@settings(deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "*", "**"]), min_size=1, max_size=3)
                .map(lambda p: "ghcr.io/" + "/".join(p)), max_size=5),
       st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4))
def test_deny_always_wins(patterns: list[str], path: list[str]) -> None:
    text = "allow:\n" + "".join(f"  - '{p}'\n" for p in patterns or ["ghcr.io/a"])
    text += "deny:\n" + "".join(f"  - '{p}'\n" for p in patterns[:1])
    allowlist, _ = parse_allowlist(text)
    ref = parse("ghcr.io/" + "/".join(path))
    if any(rule.matches(ref) for rule in allowlist.deny):
        assert not allowlist.decide(ref).allowed


@settings(deadline=None)
@given(st.text(max_size=40))
def test_fast_path_normalises_exactly_like_the_slow_path(text: str) -> None:
    pattern = "docker.io/" + text
    try:
        result = normalise_pattern(pattern)
    except ValueError:
        return
    assert normalise_pattern(result[0]) == result


yaml_like = st.lists(st.sampled_from([
    "allow:", "deny:", "settings:", "  - ", "- ", "  ", "[", "]", "{", "}", ":", "*", "&a", "*a",
    "docker.io/library/nginx", "ghcr.io/**", "max_image_size: ", "platforms: ", "mirror_registry: ",
    "target_template: ", "'{{ mirror }}'", "\n", "\t", "!!binary", "? ", "%YAML 1.1\n", "---\n", "\x00",
]), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), yaml_like))
def test_checker_never_crashes_on_any_text(text: str) -> None:
    _, problems = check_allowlist_text(text)
    assert all(p.message for p in problems)


@pytest.mark.parametrize(("repository", "allowed", "reason"), [
    ("docker.io/library/app", True, "allowed by rule 'docker.io/library/*' (allowlist.yaml:2)"),
    ("docker.io/library/forbidden", False, "denied by rule 'docker.io/library/forbidden' (allowlist.yaml:7)"),
    ("docker.io/bitnami/redis", True, "allowed by rule 'docker.io/bitnami/**' (allowlist.yaml:3)"),
    ("ghcr.io/acme/app", True, "allowed by rule 'ghcr.io/acme/app:v1.*' (allowlist.yaml:4); each tag "
                               "must match 'v1.*'"),
    ("quay.io/other/x", False, "quay.io/other/x is not in allowlist.yaml"),
])
def test_a_repository_is_decided_whatever_the_tag(repository: str, allowed: bool, reason: str) -> None:
    allowlist, _ = parse_allowlist(POLICY)
    registry, _, path = repository.partition("/")
    decision = allowlist.decide_repository(Reference(registry, path))
    assert (decision.allowed, str(decision.reason)) == (allowed, reason)


@pytest.mark.parametrize(("pattern", "message"), [
    # Longer than anything it could match: a repository name (registry included) has at most 255
    # characters, a tag at most 128.
    ("docker.io/" + "a" * 5_000_000, "the pattern is 5,000,010 characters long"),
    ("ghcr.io/acme/" + "a" * 243, "the repository part is 256 characters long"),
    ("ghcr.io/acme/app:" + "1" * 129, "the tag glob is 129 characters long"),
])
def test_patterns_longer_than_a_reference_are_problems_with_their_line(pattern: str,
                                                                       message: str) -> None:
    _, problems = check_allowlist_text(f"allow:\n  - ghcr.io/ok/*\n  - {pattern}\n")
    [problem] = problems
    assert problem.line == 3 and message in problem.message
    assert len(str(problem)) < 300  # the pattern is shown by its start, not whole


def test_patterns_as_long_as_a_reference_can_be_are_fine() -> None:
    longest = "ghcr.io/acme/" + "a" * 242 + ":" + "1" * 128
    _, problems = check_allowlist_text(f"allow:\n  - {longest}\n")
    assert problems == []
