"""The allowlist checker as a process (`check-allowlist`, and `plan` refusing what it refuses),
and files the checker must survive: unreadable, nested too deep."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.policy.allowlist_file import check_allowlist_file, check_allowlist_text, load_allowlist
from tests.fixtures import run_cli

DEEP = "allow: " + "[" * 5000 + "]" * 5000 + "\n"


def test_nesting_too_deep_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    _, problems = check_allowlist_text(DEEP)
    assert [str(p) for p in problems] == ["allowlist.yaml:1: YAML error: the document is nested too deeply"]
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP)
    completed = run_cli("check-allowlist", str(path))
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr and "nested too deeply" in completed.stderr


@pytest.mark.parametrize(("content", "message"), [
    (b"allow:\n  - ghcr.io/\xff\n", "2: the file is not UTF-8 text (byte 0xff); save it as UTF-8"),
    (None, " cannot read the file: Is a directory"),
])
def test_unreadable_files_are_problems(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "allowlist.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    _, problems = check_allowlist_file(path)
    assert [str(p) for p in problems] == [f"{path}:{message}"]
    completed = run_cli("check-allowlist", str(path))
    assert (completed.returncode, "Traceback" in completed.stderr) == (1, False)
    with pytest.raises(ConfigError, match=re.escape(message.strip())):
        load_allowlist(path)


def test_check_allowlist_cli_names_the_line_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "allowlist.yaml"
    broken.write_text("allow:\n  - docker.io/library/*\n  - nginx\n")
    completed = run_cli("check-allowlist", str(broken))
    assert completed.returncode == 1
    assert f"{broken}:3: 'nginx' is not written normalised; write 'docker.io/library/nginx'" in (
        completed.stderr)


@pytest.mark.parametrize(("setting", "message"), [
    ("target_template: \"{{ mirror }}/{{ registry }}-{{ repository | replace('/', '-') }}\"",
     "naming template collides"),
    ("target_template: '{{ mirror }/x'", "does not compile"),
    ("mirror_registry: 'http://m.example.io'", "has a scheme"),
    ("mirror_registry: m.example.io:99999", "port 99999 is out of range"),
])
def test_check_allowlist_refuses_what_every_command_refuses(tmp_path: Path, setting: str,
                                                            message: str) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text(f"allow:\n  - docker.io/library/*\nsettings:\n  {setting}\n")
    completed = run_cli("check-allowlist", str(path))
    assert completed.returncode == 1
    assert f"{path}:4: settings." in completed.stderr and message in completed.stderr
    planned = run_cli("plan", "nginx", env={**os.environ, "MIRROR_ALLOWLIST": str(path),
                                            "MIRROR_REGISTRY": "m.example.io"})
    assert planned.returncode == 2 and message in planned.stderr and "Traceback" not in planned.stderr


def test_upper_case_mirror_host_is_accepted_and_lowercased(tmp_path: Path) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text("allow:\n  - docker.io/library/*\nsettings:\n  mirror_registry: M.Example.io\n")
    assert run_cli("check-allowlist", str(path)).returncode == 0
    env = {**os.environ, "MIRROR_ALLOWLIST": str(path), "MIRROR_REGISTRY": ""}
    planned = run_cli("plan", "--json", "nginx", env=env)
    assert planned.returncode == 0, planned.stderr
    assert '"target": "m.example.io/docker.io/library/nginx:latest"' in planned.stdout


def test_check_allowlist_cli_accepts_the_starter_file() -> None:
    completed = run_cli("check-allowlist")
    assert completed.returncode == 0, completed.stderr
