"""Workflows: zizmor finds nothing unjustified, schemas validate, event text never hits a shell."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.skip(f"{name} is installed by `pip install -e .[test]`")
    return found


def zizmor(folder: Path) -> list[dict]:
    completed = subprocess.run([tool("zizmor"), "--offline", "--format", "json", str(folder)],
                               capture_output=True, text=True, check=False, timeout=120)
    return json.loads(completed.stdout or "[]")


def test_zizmor_reports_nothing() -> None:
    assert zizmor(REPO_ROOT / ".github" / "workflows") == []


def test_every_zizmor_suppression_is_justified() -> None:
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if "zizmor: ignore[" in line:
                justification = line.split("]", 1)[1].strip()
                assert len(justification.split()) >= 8, f"{workflow.name}: {line.strip()}"


def test_the_retry_trigger_is_flagged_without_its_justification(tmp_path: Path) -> None:
    copy = tmp_path / "workflows"
    copy.mkdir()
    text = (REPO_ROOT / ".github/workflows/sync-image.yml").read_text()
    (copy / "sync-image.yml").write_text(re.sub(r".*zizmor: ignore.*\n", "", text))
    assert any(f["ident"] == "dangerous-triggers" for f in zizmor(copy / "sync-image.yml"))


@pytest.mark.parametrize(("schema", "files"), [
    ("vendor.github-workflows", WORKFLOWS),
    ("vendor.github-issue-forms", [REPO_ROOT / ".github/ISSUE_TEMPLATE/sync-image.yml"]),
    ("vendor.github-issue-config", [REPO_ROOT / ".github/ISSUE_TEMPLATE/config.yml"]),
])
def test_schemas(schema: str, files: list[Path]) -> None:
    completed = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema,
                                *map(str, files)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_pinned_actions(workflow: Path) -> None:
    data = yaml.safe_load(workflow.read_text())
    assert data["permissions"] == {}
    assert "pull_request_target" not in data[True]  # PyYAML reads `on:` as True
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
            assert "${{" not in step.get("run", ""), f"expression inside run: in {workflow.name}"


def test_issue_form_applies_the_request_label() -> None:
    form = yaml.safe_load((REPO_ROOT / ".github/ISSUE_TEMPLATE/sync-image.yml").read_text())
    assert form["labels"] == ["sync image"]
