"""`mirror-bot plan` as a process: the contract's JSON shape and a readable text."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures import REPO_ROOT


def run_plan(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "MIRROR_REGISTRY": "m.example.io"}
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
