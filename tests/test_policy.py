"""Allowlist: matching, deny precedence, validation with file:line, and fuzzing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.policy import parse_allowlist
from bot.reference import parse
from tests.conftest import REPO_ROOT

POLICY = """\
allow:
  - docker.io/library/*
  - docker.io/bitnami/**
  - ghcr.io/acme/app:v1.*
  - quay.io/team/*/tools
deny:
  - docker.io/library/forbidden
  - docker.io/bitnami/**:*-debug
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
    ("ghcr.io/acme/app@sha256:" + "a" * 64, False),  # a tag glob needs a tag
    ("quay.io/team/x/tools", True),
    ("quay.io/team/x/y/tools", False),
    ("evil.com/docker.io/library/nginx", False),
    ("docker.io.evil.com/library/nginx", False),
])
def test_matching(image: str, allowed: bool) -> None:
    assert decide(image).allowed is allowed


def test_decisions_name_the_rule_and_its_line() -> None:
    assert decide("nginx").reason == "allowed by rule 'docker.io/library/*' (allowlist.yaml:2)"
    assert decide("docker.io/library/forbidden").reason == (
        "denied by rule 'docker.io/library/forbidden' (allowlist.yaml:7)")
    assert decide("ghcr.io/acme/app:v2").reason.startswith(
        "ghcr.io/acme/app is allowlisted only for tags matching 'v1.*'")
    assert decide("quay.io/other/x").reason == "quay.io/other/x is not in allowlist.yaml"


@pytest.mark.parametrize(("text", "line", "message"), [
    ("allow:\n  - nginx\n", 2, "write 'docker.io/library/nginx'"),
    ("allow:\n  - library/redis\n", 2, "write 'docker.io/library/redis'"),
    ("allow:\n  - index.docker.io/library/redis\n", 2, "write 'docker.io/library/redis'"),
    ("allow:\n  - docker.io/library/*\n  - docker.io/library/nginx\n", 3, "shadowed by the wider"),
    ("allow:\n  - docker.io/a/**\n  - docker.io/a/*/c\n", 3, "shadowed by the wider"),
    ("allow:\n  - ghcr.io/a/*\n  - ghcr.io/a/*\n", 3, "duplicate allow entry"),
    ("allow:\n  - ghcr.io/a//b\n", 2, "empty component"),
    ("allow:\n  - ghcr.io/A/b\n", 2, "lowercase"),
    ("allow:\n  - ghcr.io/a/b:bad tag\n", 2, "whitespace"),
    ("allow:\n  - 42\n", 2, "must be strings"),
    ("allow: [ghcr.io/a\n", 2, "YAML error"),
    ("allow:\n  - ghcr.io/a\nsettings:\n  max_images_per_issue: 0\n", 4, "at least 1"),
    ("allow:\n  - ghcr.io/a\nsettings:\n  platforms: [arm64x]\n", 4, "os/arch"),
    ("allow:\n  - ghcr.io/a\nsettings:\n  max_image_size: lots\n", 4, "not a size"),
    ("allow:\n  - ghcr.io/a\nextra: 1\n", 3, "unknown key 'extra'"),
    ("deny:\n  - ghcr.io/a\n", None, "missing the 'allow:' list"),
])
def test_check_reports_line_and_problem(text: str, line: int | None, message: str) -> None:
    _, problems = parse_allowlist(text)
    assert any(p.line == line and message in p.message for p in problems), problems


def test_narrower_tag_glob_is_shadowed_but_wider_is_not() -> None:
    _, problems = parse_allowlist("allow:\n  - ghcr.io/a/b:v1.*\n  - ghcr.io/a/*\n")
    assert [p.line for p in problems] == [2]


def test_starter_allowlist_is_valid_and_allows_nginx() -> None:
    allowlist, problems = parse_allowlist((REPO_ROOT / "allowlist.yaml").read_text())
    assert problems == []
    assert allowlist.decide(parse("nginx")).allowed
    assert allowlist.decide(parse("registry.k8s.io/kube-apiserver:v1.31.0")).allowed
    assert not allowlist.decide(parse("docker.io/library/nginx:1.27-rc1")).allowed


def test_check_allowlist_cli_names_the_line_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "allowlist.yaml"
    broken.write_text("allow:\n  - docker.io/library/*\n  - nginx\n")
    completed = subprocess.run([sys.executable, "-m", "bot", "check-allowlist", str(broken)],
                               capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert completed.returncode == 1
    assert f"{broken}:3: 'nginx' is not written normalised; write 'docker.io/library/nginx'" in (
        completed.stderr)


def test_check_allowlist_cli_accepts_the_starter_file() -> None:
    completed = subprocess.run([sys.executable, "-m", "bot", "check-allowlist"],
                               capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr


components = st.sampled_from(["a", "b", "c", "*", "**"])


@given(st.lists(st.lists(components, min_size=1, max_size=3).map(lambda p: "ghcr.io/" + "/".join(p)),
                max_size=5), st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4))
def test_deny_always_wins_and_checker_never_crashes(patterns: list[str], path: list[str]) -> None:
    text = "allow:\n" + "".join(f"  - '{p}'\n" for p in patterns or ["ghcr.io/a"])
    text += "deny:\n" + "".join(f"  - '{p}'\n" for p in patterns[:1])
    allowlist, _ = parse_allowlist(text)
    ref = parse("ghcr.io/" + "/".join(path))
    if any(rule.matches(ref) for rule in allowlist.deny):
        assert not allowlist.decide(ref).allowed


@given(st.text(max_size=300))
def test_checker_never_crashes_on_any_text(text: str) -> None:
    parse_allowlist(text)
