"""action.yml: its metadata, and its steps run as a runner would run them (the step's `env:` rendered
from action.yml itself, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_ACTION_PATH, RUNNER_TEMP) against the
loopback registries: a real install from the hash-pinned lock, then a real sync."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, REPO_ROOT, Sandbox

sys.path.insert(0, str(REPO_ROOT / ".github"))
sys.path.insert(0, str(REPO_ROOT / "scripts" / "action"))
import mirror
from workflow_expressions import evaluate, parse

ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
STEPS = {step["id"]: step for step in ACTION["runs"]["steps"]}
# What the runner provides; the action's files are copied as the runner downloads them.
ACTION_FILES = ("action.yml", "pyproject.toml", "README.md", "bot", "requirements", "scripts")


def render(text: str, context: dict) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(parse(m.group(1)), context) or ""), text)


@dataclass
class Runner:
    """Runs the action's `run` steps the way a runner does, one composite step at a time."""

    root: Path
    inputs: dict[str, str]
    base_env: dict[str, str]
    steps: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def action_path(self) -> Path:
        return self.root / "action"

    @property
    def runner_env(self) -> dict[str, str]:
        return {"GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(self.action_path),
                "RUNNER_TEMP": str(self.root / "temp"), "GITHUB_WORKSPACE": str(self.root / "workspace"),
                "GITHUB_PATH": str(self.root / "github_path"), "GITHUB_REPOSITORY_OWNER": "Acme-Corp",
                "GITHUB_ACTOR": "octocat"}

    def context(self) -> dict:
        github = {"actor": "octocat", "token": "ghs_fake-token-for-tests"}
        declared = {name: render(str(spec.get("default", "")), {"github": github})
                    for name, spec in ACTION["inputs"].items()}
        return {"github": github, "inputs": declared | self.inputs,
                "steps": {sid: {"outputs": out} for sid, out in self.steps.items()}}

    def run(self, step_id: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        step = STEPS[step_id]
        output = self.root / f"output-{step_id}"
        output.write_text("")
        env = self.base_env | self.runner_env | {"GITHUB_OUTPUT": str(output)}
        env |= {name: render(str(value), self.context()) for name, value in step.get("env", {}).items()}
        assert step["shell"] == "bash"
        completed = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                   env=env, cwd=self.root / "workspace", capture_output=True, text=True,
                                   timeout=timeout, check=False)
        self.steps[step_id] = read_outputs(output.read_text())
        return completed

    def outputs(self) -> dict[str, str]:
        return {name: render(spec["value"], self.context()) for name, spec in ACTION["outputs"].items()}


def read_outputs(text: str) -> dict[str, str]:
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            outputs[name] = "\n".join(iter(lambda: next(lines), delimiter))
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """The install step, run once: a virtualenv from the lock, as on a runner."""
    root = tmp_path_factory.mktemp("action")
    (root / "action").mkdir()
    for name in ACTION_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / "action" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / "action" / name)
    (root / "temp").mkdir()
    (root / "workspace").mkdir()
    runner = Runner(root, {}, {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())})
    runner.steps["python"] = {"python-path": sys._base_executable}  # what setup-python reports
    completed = runner.run("install", timeout=600)
    assert completed.returncode == 0, completed.stderr
    yield runner


def test_the_metadata() -> None:
    assert ACTION["branding"]["icon"] and ACTION["branding"]["color"]
    assert set(ACTION["inputs"]) == {"images", "mirror-registry", "username", "password", "allowlist"}
    assert ACTION["inputs"]["images"]["required"] is True
    assert ACTION["inputs"]["username"]["default"] == "${{ github.actor }}"
    assert ACTION["inputs"]["password"]["default"] == "${{ github.token }}"
    assert ACTION["outputs"]["addresses"]["value"] == "${{ steps.sync.outputs.addresses }}"
    assert ACTION["outputs"]["result"]["value"] == "${{ steps.sync.outputs.result }}"
    python = STEPS["python"]
    assert re.fullmatch(r"actions/setup-python@[0-9a-f]{40}", python["uses"])
    assert python["with"]["update-environment"] is False  # the caller's Python stays as it was
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash" and "${{" not in step["run"]
    inputs_in_env = {m for s in STEPS.values() for v in s.get("env", {}).values()
                     for m in re.findall(r"inputs\.([\w-]+)", str(v))}
    assert inputs_in_env == set(ACTION["inputs"])


def test_the_install_step_installs_exactly_the_lock(installed: Runner) -> None:
    python = Path(installed.steps["install"]["python"])
    assert python.is_relative_to(installed.root / "temp")
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                            check=True).stdout
    installed_versions = {re.sub(r"[-_.]+", "-", n).lower(): v for n, _, v in
                          (line.partition("==") for line in frozen.splitlines()) if v}
    for lock in ("runtime.txt", "build.txt"):
        text = (REPO_ROOT / "requirements" / lock).read_text()
        for name, version in re.findall(r"^([\w.-]+)==([^\s;]+)", text, re.M):
            assert installed_versions[name.lower()] == version, name
    (path_entry,) = (installed.root / "github_path").read_text().split()
    assert sorted(p.name for p in Path(path_entry).iterdir()) == ["mirror-bot"]  # not the venv's python
    version = subprocess.run([Path(path_entry) / "mirror-bot", "--version"], capture_output=True,
                             text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("mirror-bot ")
    assert not list((installed.action_path).glob("*.egg-info")), "the action's folder stays as checked out"


def sync(installed: Runner, testbed: Sandbox, **inputs: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    installed.inputs = inputs
    # The runner's own cache directory: the blob-location cache never lands in the home here.
    installed.base_env = testbed.env(PATH="/usr/local/bin:/usr/bin:/bin",
                                     XDG_CACHE_HOME=str(installed.root / "cache"))
    for name in [n for n in installed.base_env if n.startswith("MIRROR_")]:
        del installed.base_env[name]  # the action's own env decides these
    completed = installed.run("sync")
    return completed, installed.outputs()


def test_the_action_mirrors_the_images_and_outputs_their_addresses_in_order(
        installed: Runner, testbed: Sandbox, name: str) -> None:
    first, second = testbed.seed(f"{name}-a"), testbed.seed(f"{name}-b", platforms=("linux/amd64",))
    images = f"docker.io/library/{name}-b:1.0\n  {name}-a:1.0 "
    completed, outputs = sync(installed, testbed, images=images, **{"mirror-registry": testbed.mirror.host},
                              username=MIRROR_USER, password=MIRROR_PASSWORD)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    mirror_host = testbed.mirror.host
    assert outputs["addresses"].splitlines() == [f"{mirror_host}/docker.io/library/{name}-b:1.0",
                                                 f"{mirror_host}/docker.io/library/{name}-a:1.0"]
    results = json.loads(outputs["result"])["results"]
    assert [(r["status"], r["digest"]) for r in results] == [("copied", second.index_digest),
                                                            ("copied", first.index_digest)]
    assert MIRROR_PASSWORD not in completed.stdout + completed.stderr + outputs["result"]
    assert not list((installed.root / "temp").glob("mirror-bot-allowlist-*")), "temporary allowlist removed"


def test_without_an_allowlist_only_the_listed_images_are_allowed(tmp_path: Path) -> None:
    images = ["nginx:1.27", "ghcr.io/fluxcd/flux-cli:v2.4.0", "redis@sha256:" + "a" * 64,
              "docker.io/library/nginx:1.27.*", "not a reference!"]
    written = mirror.write_allowlist(images, tmp_path)
    assert yaml.safe_load(written.read_text()) == {"allow": [
        "docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27.*", "docker.io/library/redis",
        "ghcr.io/fluxcd/flux-cli:v2.4.0"]}
    checked = subprocess.run([sys.executable, "-m", "bot", "check-allowlist", str(written)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr  # patterns are written normalised


def test_a_given_allowlist_applies_and_outputs_are_written_when_an_image_is_refused(
        installed: Runner, testbed: Sandbox, name: str) -> None:
    testbed.seed(f"{name}-ok")
    workspace = installed.root / "workspace"
    (workspace / "deploy").mkdir(exist_ok=True)
    (workspace / "deploy" / "allowlist.yaml").write_text(
        f"allow:\n  - docker.io/library/{name}-ok\ndeny:\n  - docker.io/library/{name}-no\n")
    completed, outputs = sync(installed, testbed, images=f"{name}-ok:1.0 {name}-no:1.0",
                              allowlist="deploy/allowlist.yaml",
                              **{"mirror-registry": testbed.mirror.host},
                              username=MIRROR_USER, password=MIRROR_PASSWORD)
    assert completed.returncode == 1
    results = json.loads(outputs["result"])["results"]
    assert [r["status"] for r in results] == ["copied", "denied"]
    assert outputs["addresses"].split("\n") == [f"{testbed.mirror.host}/docker.io/library/{name}-ok:1.0", ""]


def test_hostile_images_stay_data(installed: Runner, testbed: Sandbox) -> None:
    images = "--all $(touch${IFS}pwned) `touch${IFS}pwned` ;touch${IFS}pwned |id"
    completed, outputs = sync(installed, testbed, images=images, **{"mirror-registry": testbed.mirror.host})
    assert completed.returncode == 1
    assert {r["status"] for r in json.loads(outputs["result"])["results"]} == {"invalid"}
    assert not list(installed.root.rglob("pwned"))


def test_bad_inputs_are_one_line_errors(installed: Runner, testbed: Sandbox) -> None:
    completed, _ = sync(installed, testbed, images=" \n ")
    assert completed.returncode == 2 and completed.stdout.startswith("::error::")
    completed, _ = sync(installed, testbed, images="nginx:1.27", allowlist="missing.yaml")
    assert completed.returncode == 2 and "missing.yaml" in completed.stdout


def test_the_default_mirror_is_ghcr_of_the_calling_owner(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # ghcr.io cannot be reached here: what `mirror-bot sync` would be run with is captured instead.
    seen: dict[str, str] = {}

    def capture(images: list[str], env: dict[str, str]) -> tuple[int, dict]:
        seen.update(env)
        return 0, {"results": [{"target": f"{env['MIRROR_REGISTRY']}/docker.io/library/nginx:1.27"}]}

    monkeypatch.setattr(mirror, "run_sync", capture)
    output = tmp_path / "output"
    code = mirror.main({"INPUT_IMAGES": "nginx:1.27", "INPUT_MIRROR_REGISTRY": "",
                        "RUNNER_TEMP": str(tmp_path), "GITHUB_REPOSITORY_OWNER": "Acme-Corp",
                        "GITHUB_OUTPUT": str(output)})
    assert code == 0 and seen["MIRROR_REGISTRY"] == "ghcr.io/acme-corp"
    assert read_outputs(output.read_text())["addresses"] == "ghcr.io/acme-corp/docker.io/library/nginx:1.27"
