"""Known fake credentials run through every command; they never appear in any output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sandbox.fault_proxy import FaultProxy, Rule, serve_proxy
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import MIRROR_PASSWORD, REPO_ROOT, Sandbox


def run(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=300, check=False)
    return completed.stdout + completed.stderr


def test_every_command_keeps_the_mirror_password_out(testbed: Sandbox, name: str,
                                                     tmp_path: Path) -> None:
    testbed.seed(name)
    forge = tmp_path / "forge"
    standin = GitHubStandIn()
    standin.add_issue(f"{name}:1.0")
    standin.add_issue(f"{name}:missing")
    outputs = []
    for number in (1, 2):
        event = tmp_path / f"event-{number}.json"
        event.write_text(json.dumps(standin.event("opened", number)))
        outputs.append(run(testbed.env(GITHUB_EVENT_NAME="issues", GITHUB_EVENT_PATH=str(event),
                                       GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md")),
                           "handle-event", "--local-forge", str(forge)))
    outputs.append(run(testbed.env(), "sync", "--json", f"docker.io/library/{name}:1.0"))
    outputs.append(run(testbed.env(), "sweep", "--local-forge", str(forge)))
    outputs.append(run(testbed.env(), "resync", "--local-forge", str(forge),
                       "--output", str(tmp_path / "report.json")))
    outputs.append(run(testbed.env(), "index", "--local-forge", str(forge), "--html",
                       str(tmp_path / "site"), "--report", str(tmp_path / "report.json")))
    written = [p.read_text() for p in (forge / "state.json", tmp_path / "summary.md",
                                       tmp_path / "report.json", tmp_path / "site" / "index.json",
                                       tmp_path / "site" / "index.html")]
    assert name in (tmp_path / "site" / "index.json").read_text()  # the flows really ran
    for text in outputs + written:
        assert MIRROR_PASSWORD not in text


def test_a_registry_that_echoes_credentials_is_redacted(testbed: Sandbox, name: str,
                                                        tmp_path: Path) -> None:
    testbed.seed(name)
    with serve_proxy(FaultProxy(testbed.mirror.host)) as proxy:
        proxy.add(Rule("echo_credentials", "POST", "/blobs/uploads/", times=-1, status=403))
        conf = tmp_path / "registries.conf"
        conf.write_text(testbed.registries_conf.read_text() +
                        f'\n[[registry]]\nlocation = "{proxy.host}"\ninsecure = true\n')
        env = testbed.env(CONTAINERS_REGISTRIES_CONF=str(conf), MIRROR_REGISTRY=proxy.host,
                          MIRROR_RETRY_ATTEMPTS="1")
        output = run(env, "sync", "--json", f"docker.io/library/{name}:1.0")
    assert "rejected" in output, output  # the registry own message is kept for the user
    assert MIRROR_PASSWORD not in output
