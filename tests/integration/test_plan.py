"""`mirror-bot plan` as a process: the contract's JSON shape and a readable text."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures import REPO_ROOT


def run_plan(*args: str, mirror: str | None = "m.example.io") -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"} | ({"MIRROR_REGISTRY": mirror} if mirror is not None else {})
    return subprocess.run([sys.executable, "-m", "bot", "plan", *args], capture_output=True,
                          text=True, check=False, cwd=REPO_ROOT, env=env)


def test_cli_plan_json_for_nginx_under_the_starter_allowlist() -> None:
    completed = run_plan("--json", "nginx")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"images": [{
        "input": "nginx",
        "source": "docker.io/library/nginx:latest",
        "target": "m.example.io/docker.io/library/nginx:latest",
        "platforms": "all",
        "decision": "allowed",
        "reason": "allowed by rule 'docker.io/library/*' (allowlist.yaml:14)",
        "suggestion": None,
        "pattern": False,
        "notes": [],
        "targets": ["m.example.io/docker.io/library/nginx:latest",
                    "m.example.io/docker.io/nginx:latest"],
    }]}


def test_cli_plan_text_is_readable() -> None:
    completed = run_plan("ngnix-typo evil.io/x")
    assert "ALLOWED" in completed.stdout and "DENIED" in completed.stdout


def test_cli_plan_decides_without_a_mirror_and_says_the_addresses_are_unknown() -> None:
    completed = run_plan("--json", "nginx:1.27 ghcr.io/fluxcd/flux-cli:v2.4.0 evil.io/x", mirror=None)
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert [image["decision"] for image in data["images"]] == ["allowed", "allowed", "denied"]
    assert all(image["target"] is None and image["targets"] == [] for image in data["images"])
    assert data["note"].startswith("no mirror is configured")
    assert completed.stderr.splitlines() == [f"mirror-bot: note: {data['note']}"]


def test_cli_plan_without_a_mirror_lists_patterns_without_a_target() -> None:
    completed = run_plan("--json", "ghcr.io/fluxcd/flux-cli:v2.4.*", mirror=None)
    assert completed.returncode == 0, completed.stderr
    [image] = json.loads(completed.stdout)["images"]
    assert (image["decision"], image["pattern"], image["target"]) == ("allowed", True, None)


def test_cli_plan_still_refuses_a_mirror_configured_wrongly() -> None:
    completed = run_plan("--json", "nginx", mirror="bad host!")
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "MIRROR_REGISTRY: 'bad host!' is not a registry host" in completed.stderr
