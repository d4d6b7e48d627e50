"""`mirror-bot plan`: offline decisions per the contract's JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys

from bot.flows.plan import plan_issue
from bot.naming import Namer
from bot.policy import parse_allowlist
from tests.conftest import REPO_ROOT

ALLOWLIST, _ = parse_allowlist(
    "allow:\n  - docker.io/library/*\n  - ghcr.io/fluxcd/flux-cli\n"
    "deny:\n  - docker.io/library/forbidden\n"
    "settings:\n  platforms: [linux/amd64, linux/arm64]\n")
NAMER = Namer("m.example.io")


def plan(title: str, body: str = "") -> list[dict]:
    return plan_issue(title, body, ALLOWLIST, NAMER).to_json()["images"]


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
    }]}


def test_cli_plan_text_is_readable() -> None:
    completed = run_plan("ngnix-typo evil.io/x")
    assert "ALLOWED" in completed.stdout and "DENIED" in completed.stdout


def test_denied_names_the_rule() -> None:
    [image] = plan("docker.io/library/forbidden")
    assert image["decision"] == "denied" and "'docker.io/library/forbidden'" in image["reason"]


def test_near_miss_is_suggested() -> None:
    [image] = plan("ghcr.io/fluxcd/flux-cil:v2.4.0")
    assert image["decision"] == "denied"
    assert image["suggestion"] == "ghcr.io/fluxcd/flux-cli:v2.4.0"


def test_registry_typo_is_suggested() -> None:
    [image] = plan("docker.oi/library/nginx:1")
    assert image["suggestion"] == "docker.io/library/nginx:1"


def test_invalid_uppercase_gets_a_suggestion() -> None:
    [image] = plan("Nginx:1.27")
    assert image["decision"] == "invalid"
    assert image["suggestion"] == "docker.io/library/nginx:1.27"


def test_platforms_are_carried_and_checked() -> None:
    [image] = plan("nginx --platform=linux/arm64")
    assert image["platforms"] == ["linux/arm64"] and image["decision"] == "allowed"
    [refused] = plan("nginx --platform=linux/s390x")
    assert refused["decision"] == "invalid" and "not offered" in refused["reason"]


def test_mixed_request() -> None:
    decisions = [i["decision"] for i in plan("nginx evil.io/x Bad")]
    assert decisions == ["allowed", "denied", "invalid"]
