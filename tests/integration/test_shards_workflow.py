"""resync.yml run as a runner runs it: the index job's step writes the shard count and list to
GITHUB_OUTPUT, the job passes them on, the matrix takes the list with fromJSON, each shard's step
resyncs its part of the same index, and the report job merges the reports — against the GitHub
stand-in and the loopback registries, through the workflow's own `run:` and `env:` text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.copy.model import SyncItem
from bot.image.reference import parse
from bot.records.record import COMMENT_MARKER
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, REPO_ROOT, Sandbox, render_record

sys.path.insert(0, str(REPO_ROOT / ".github"))
from workflow_expressions import evaluate
from workflow_expressions import parse as parse_expression

WORKFLOW = yaml.safe_load((REPO_ROOT / ".github/workflows/resync.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def value_of(text: str, context: dict[str, Any]) -> Any:
    """A whole `${{ expression }}`'s value (a list stays a list, as the matrix takes it)."""
    match = EXPRESSION.fullmatch(text.strip())
    assert match, text
    return evaluate(parse_expression(match.group(1)), context)


def render(text: str, context: dict[str, Any]) -> str:
    def text_of(value: Any) -> str:  # as GitHub writes a value into a string (shard 0 is "0")
        return "" if value is None else str(value)
    return EXPRESSION.sub(lambda m: text_of(evaluate(parse_expression(m.group(1)), context)), text)


def read_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def step(job: str, name_part: str) -> dict[str, Any]:
    [found] = [s for s in WORKFLOW["jobs"][job]["steps"] if name_part in s.get("name", "")]
    return found


def run_step(found: dict[str, Any], context: dict[str, Any], env: dict[str, str],
             workspace: Path) -> dict[str, str]:
    """One `run:` step, with bash -e as on a runner; its outputs."""
    output = workspace / f"output-{len(list(workspace.glob('output-*')))}"
    output.write_text("")
    env = env | {"GITHUB_OUTPUT": str(output)}
    env |= {name: render(str(value), context) for name, value in found.get("env", {}).items()}
    completed = subprocess.run(["bash", "-e", "-c", found["run"]], env=env, cwd=workspace,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    return read_outputs(output)


def add_mirrored(github: GitHubStandIn, source: str, addresses: list[str], digest: str) -> int:
    """A closed request whose bot comment records the image at `addresses` (the primary
    first), as handle-event leaves it."""
    target, *also = addresses
    number = github.add_issue(source, labels=("sync image", "sync image succeeded"),
                              state="closed")["number"]
    github.add_bot_comment(number, f"{COMMENT_MARKER}\nMirrored `{target}`\n" + render_record({
        "issue": number, "phase": "result", "outcome": "mirrored", "at": "2026-11-01T00:00:00Z",
        "attempts": 0, "images": [{"source": source, "target": target, "digest": digest,
                                   "platforms": [], "first_sync": "2026-11-01T00:00:00Z",
                                   "also": also}]}))
    return number


@pytest.fixture
def workspace(testbed: Sandbox, tmp_path: Path) -> Path:
    """The checkout: this repository's allowlist for the sandbox, with two quota registries."""
    root = tmp_path / "workspace"
    root.mkdir()
    text = testbed.allowlist.read_text()
    (root / "allowlist.yaml").write_text(
        text.replace("settings:\n", "settings:\n  quota_registries: [docker.io, quay.io]\n", 1))
    return root


def test_the_resync_workflow_shards_by_its_index(testbed: Sandbox, github: GitHubStandIn,
                                                 workspace: Path, name: str) -> None:
    config = testbed.config()
    images = {"docker.io": [f"{name}-a", f"{name}-b"], "quay.io": [f"acme/{name}-q"],
              "ghcr.io": [f"acme/{name}-g1", f"acme/{name}-g2"]}
    issues = {}
    for registry, names in images.items():
        for repository in names:
            testbed.seed(repository, prefix=registry)
            source = parse(f"{registry}/{repository}:1.0")
            target, *also = config.namer.targets(source)
            result = testbed.syncer().sync(SyncItem(source, target, also=tuple(also)))
            assert result.status == "copied", result.error
            issues[str(source)] = add_mirrored(github, str(source), list(map(str, result.addresses)),
                                               str(result.digest))
    moved_source = f"ghcr.io/acme/{name}-g2:1.0"
    moved = testbed.seed(f"acme/{name}-g2", prefix="ghcr.io", seed="moved")

    env = {k: v for k, v in testbed.env().items() if k != "MIRROR_ALLOWLIST"}  # the checkout's
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    context: dict[str, Any] = {
        "secrets": {"GITHUB_TOKEN": github.token, "MIRROR_USERNAME": MIRROR_USER,
                    "MIRROR_PASSWORD": MIRROR_PASSWORD, "MIRROR_AUTH_JSON": ""},
        "vars": {"MIRROR_REGISTRY": testbed.mirror.host, "MIRROR_BOT_LOGIN": ""},
        "steps": {"setup": {"outputs": {}}}}
    env |= {"GITHUB_REPOSITORY": github.repository, "GITHUB_API_URL": github.base_url,
            "MIRROR_GITHUB_WRITE_INTERVAL": "0"}

    # The index job: its step's outputs become the job's.
    index_job = WORKFLOW["jobs"]["index"]
    outputs = run_step(step("index", "Build the index"), context, env, workspace)
    context["steps"]["index"] = {"outputs": outputs}
    job_outputs = {key: render(value, context) for key, value in index_job["outputs"].items()}
    # quay.io and Docker Hub a shard each; one for the two other images
    assert job_outputs == {"count": "3", "shards": "[0, 1, 2]"}

    # The matrix, as GitHub expands it from the index job's outputs.
    resync_job = WORKFLOW["jobs"]["resync"]
    assert resync_job["strategy"]["max-parallel"] >= 1
    context["needs"] = {"index": {"outputs": job_outputs}}
    shards = value_of(resync_job["strategy"]["matrix"]["shard"], context)
    assert shards == [0, 1, 2]
    for shard in shards:
        run_step(step("resync", "Resync this shard"), context | {"matrix": {"shard": shard}}, env,
                 workspace)
    reports = {shard: json.loads((workspace / f"report-{shard}.json").read_text()) for shard in shards}
    held = {shard: {row["source"].split("/")[0] for row in report["results"]}
            for shard, report in reports.items()}
    assert held == {0: {"docker.io"}, 1: {"quay.io"}, 2: {"ghcr.io"}}
    assert sum(r["record_updates"]["allowed"] for r in reports.values()) == 100  # resync.yml's
    assert [r["record_updates"]["made"] for r in reports.values()] == [0, 0, 1]

    # The report job merges them; the moved tag's record says its new digest.
    run_step(step("report", "Merge the shard reports"), context, env, workspace)
    merged = json.loads((workspace / "resync-report.json").read_text())
    assert sorted(row["source"] for row in merged["results"]) == sorted(issues)
    assert merged["counts"] == {"unchanged": 4, "copied": 1}
    assert merged["record_updates"] == {"made": 1, "allowed": 100}
    [comment] = github.bot_comments(issues[moved_source])
    assert moved.index_digest in comment["body"]
