"""action.yml: its metadata, and its steps run as a runner would run them (the step's `env:` rendered
from action.yml itself, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_ACTION_PATH, RUNNER_TEMP) against the
loopback registries: a real install from the hash-pinned lock, then a real sync; and the README's
example job, taken from the README and run as pasted, its follow-up `rewrite --check` included."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    github: dict[str, str] = field(default_factory=lambda: {
        "actor": "octocat", "token": "ghs_fake-token-for-tests", "repository_owner": "Acme-Corp"})

    @property
    def action_path(self) -> Path:
        return self.root / "action"

    @property
    def runner_env(self) -> dict[str, str]:
        return {"GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(self.action_path),
                "RUNNER_TEMP": str(self.root / "temp"), "GITHUB_WORKSPACE": str(self.root / "workspace"),
                "GITHUB_PATH": str(self.root / "github_path"),
                "GITHUB_REPOSITORY_OWNER": self.github["repository_owner"],
                "GITHUB_ACTOR": self.github["actor"]}

    def context(self) -> dict:
        declared = {name: render(str(spec.get("default", "")), {"github": self.github})
                    for name, spec in ACTION["inputs"].items()}
        return {"github": self.github, "inputs": declared | self.inputs,
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
    assert ACTION["outputs"]["allowlist"]["value"] == "${{ steps.sync.outputs.allowlist }}"
    assert ACTION["outputs"]["mirror-registry"]["value"] == "${{ steps.sync.outputs.mirror-registry }}"
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


def runner_env(installed: Runner, testbed: Sandbox) -> dict[str, str]:
    """The job's environment on the runner: the loopback registries' registries.conf, no MIRROR_*
    (the action's inputs and the job's steps decide those)."""
    # The runner's own cache directory: the blob-location cache never lands in the home here.
    env = testbed.env(PATH="/usr/local/bin:/usr/bin:/bin", XDG_CACHE_HOME=str(installed.root / "cache"))
    return {name: value for name, value in env.items() if not name.startswith("MIRROR_")}


def sync(installed: Runner, testbed: Sandbox, **inputs: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    installed.inputs = inputs
    installed.base_env = runner_env(installed, testbed)
    completed = installed.run("sync")
    return completed, installed.outputs()


def expected_addresses(outputs: dict[str, str]) -> list[str]:
    """What `addresses` must be: a line per result, its target only when it was mirrored."""
    return [r["target"] if r["status"] in {"copied", "unchanged"} else ""
            for r in json.loads(outputs["result"])["results"]]


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
    # What a later step needs to ask the same mirror: the mirror, and the temporary allowlist,
    # which stays in RUNNER_TEMP for the job.
    assert outputs["mirror-registry"] == mirror_host
    allowlist = Path(outputs["allowlist"])
    assert allowlist.parent == installed.root / "temp" and allowlist.is_file()
    assert yaml.safe_load(allowlist.read_text()) == {"allow": [f"docker.io/library/{name}-a:1.0",
                                                               f"docker.io/library/{name}-b:1.0"]}


def test_addresses_has_a_line_per_result_empty_for_each_image_not_mirrored(
        installed: Runner, testbed: Sandbox, name: str) -> None:
    for tag in ("1.0", "1.1"):
        testbed.seed(f"{name}-p", tag=tag, seed=f"{name}-p-{tag}")
    testbed.seed(f"{name}-b")
    # A pattern that expands in place to two tags, an allowed image upstream lacks, an image
    # the temporary allowlist does not name (a digest of nothing listed is still refused), a
    # mirrored one.
    images = f"{name}-p:1.* {name}-missing:1.0 {name}-b:1.0 not/valid/REF:x"
    completed, outputs = sync(installed, testbed, images=images, **{"mirror-registry": testbed.mirror.host},
                              username=MIRROR_USER, password=MIRROR_PASSWORD)
    assert completed.returncode == 1
    results = json.loads(outputs["result"])["results"]
    mirror_host = testbed.mirror.host
    assert [(r["source"], r["status"]) for r in results] == [
        (f"docker.io/library/{name}-p:1.1", "copied"), (f"docker.io/library/{name}-p:1.0", "copied"),
        (f"docker.io/library/{name}-missing:1.0", "failed"), (f"docker.io/library/{name}-b:1.0", "copied"),
        ("not/valid/REF:x", "invalid")]
    assert results[2]["target"], "a failed image has a target in the result, never in addresses"
    assert outputs["addresses"].split("\n") == [
        f"{mirror_host}/docker.io/library/{name}-p:1.1", f"{mirror_host}/docker.io/library/{name}-p:1.0",
        "", f"{mirror_host}/docker.io/library/{name}-b:1.0", ""]
    assert outputs["addresses"].split("\n") == expected_addresses(outputs)


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
    assert outputs["allowlist"] == str(workspace / "deploy" / "allowlist.yaml")


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
    outputs = read_outputs(output.read_text())
    assert outputs["addresses"] == ""  # the capture reports no status: not mirrored, no address
    assert outputs["mirror-registry"] == "ghcr.io/acme-corp"
    assert outputs["allowlist"] == seen["MIRROR_ALLOWLIST"] and Path(outputs["allowlist"]).is_file()


# -- the README's example job, as pasted --------------------------------------------------------

README = (REPO_ROOT / "README.md").read_text()
ACTION_SECTION = README.split("## Mirror before you deploy (GitHub Action)", 1)[1].split("\n## ", 1)[0]
EXAMPLE = yaml.safe_load(re.search(r"```yaml\n(.*?)```", ACTION_SECTION, re.S).group(1))
THIS_ACTION = "OWNER/mirror-bot@FULL_COMMIT_SHA"  # what the reader fills in


@dataclass
class Job:
    """One job of a workflow, run as a runner runs it: each step's `with:` and `env:` rendered from
    the github, vars, secrets and steps contexts; `run:` with bash -e (GitHub's default shell) in
    the workspace, PATH extended by what earlier steps wrote to GITHUB_PATH; this repository's
    action as `uses: OWNER/mirror-bot@…` (its install step ran once for the module)."""

    action: Runner
    base_env: dict[str, str]
    vars: dict[str, str]
    steps: dict[str, dict[str, str]] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        return {"github": self.action.github, "vars": self.vars,
                "secrets": {"GITHUB_TOKEN": self.action.github["token"]},
                "steps": {sid: {"outputs": out} for sid, out in self.steps.items()}}

    def run(self, job: dict) -> list[subprocess.CompletedProcess[str]]:
        completed = []
        for number, step in enumerate(job["steps"]):
            step_id = step.get("id", f"step{number}")
            if step.get("uses", "").startswith("actions/checkout@"):
                assert re.fullmatch(r"actions/checkout@[0-9a-f]{40}", step["uses"])
                continue  # the test wrote the caller's files into the workspace already
            if "uses" in step:
                assert step["uses"] == THIS_ACTION
                self.action.inputs = {k: render(str(v), self.context()) for k, v in step["with"].items()}
                self.action.base_env = self.base_env
                ran = self.action.run("sync")
                self.steps[step_id] = self.action.outputs()
            else:
                ran = self.shell(step)
            completed.append(ran)
            if ran.returncode != 0:
                break
        return completed

    def shell(self, step: dict) -> subprocess.CompletedProcess[str]:
        env = self.base_env | self.action.runner_env
        env |= {name: render(str(value), self.context()) for name, value in step.get("env", {}).items()}
        added = (self.action.root / "github_path").read_text().split()
        env["PATH"] = os.pathsep.join([*reversed(added), env["PATH"]])
        script = self.action.root / "step.sh"
        script.write_text(step["run"])
        return subprocess.run(["bash", "-e", str(script)], env=env, cwd=self.action.root / "workspace",
                              capture_output=True, text=True, timeout=300, check=False)


def manifest(*images: str) -> str:
    containers = "".join(f"        - name: c{n}\n          image: {image}\n"
                         for n, image in enumerate(images))
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
            "    spec:\n      containers:\n" + containers)


@pytest.fixture
def readme_job(installed: Runner, testbed: Sandbox) -> Iterator[Job]:
    """The README's job with the caller's files checked out, run by a repository whose
    MIRROR_REGISTRY variable names the loopback mirror, by an actor whose token it accepts."""
    testbed.seed("nginx", tag="1.27", seed="readme-nginx")
    testbed.seed("fluxcd/flux-cli", tag="v2.4.0", seed="readme-flux", prefix="ghcr.io")
    workspace = installed.root / "workspace"
    shutil.rmtree(workspace)
    (workspace / "deploy" / "k8s").mkdir(parents=True)
    (workspace / "deploy" / "allowlist.yaml").write_text(
        "allow:\n  - docker.io/library/nginx\n  - ghcr.io/fluxcd/**\n")
    saved = installed.github
    installed.github = {"actor": MIRROR_USER, "token": MIRROR_PASSWORD, "repository_owner": "Acme-Corp"}
    yield Job(installed, runner_env(installed, testbed), {"MIRROR_REGISTRY": testbed.mirror.host})
    installed.github = saved


def mirrored(testbed: Sandbox) -> list[str]:
    return [f"{testbed.mirror.host}/docker.io/library/nginx:1.27",
            f"{testbed.mirror.host}/ghcr.io/fluxcd/flux-cli:v2.4.0"]


def test_the_readme_example_runs_as_pasted(readme_job: Job, testbed: Sandbox) -> None:
    (readme_job.action.root / "workspace" / "deploy" / "k8s" / "app.yaml").write_text(
        manifest(*mirrored(testbed)))
    (job,) = EXAMPLE["jobs"].values()
    mirror_step, check_step = readme_job.run(job)
    assert mirror_step.returncode == 0, mirror_step.stdout + mirror_step.stderr
    assert check_step.returncode == 0, check_step.stdout + check_step.stderr
    outputs = readme_job.steps["mirror"]
    assert outputs["addresses"].splitlines() == mirrored(testbed)
    assert outputs["mirror-registry"] == testbed.mirror.host
    assert outputs["allowlist"] == str(readme_job.action.root / "workspace" / "deploy" / "allowlist.yaml")


def test_the_readme_example_check_finds_upstream_references(readme_job: Job) -> None:
    app = readme_job.action.root / "workspace" / "deploy" / "k8s" / "app.yaml"
    app.write_text(manifest("nginx:1.27", "ghcr.io/fluxcd/flux-cli:v2.4.0"))
    (job,) = EXAMPLE["jobs"].values()
    mirror_step, check_step = readme_job.run(job)
    assert mirror_step.returncode == 0, mirror_step.stdout + mirror_step.stderr
    # The mirror answered (it holds both): the check fails because the file would change, not
    # because it cannot tell (exit 2), and changes nothing.
    assert check_step.returncode == 1, check_step.stdout + check_step.stderr
    assert "would change" in check_step.stderr
    assert "image: nginx:1.27" in app.read_text()


def test_the_readme_example_without_an_allowlist_uses_the_temporary_one(
        readme_job: Job, testbed: Sandbox) -> None:
    (readme_job.action.root / "workspace" / "deploy" / "k8s" / "app.yaml").write_text(
        manifest(*mirrored(testbed)))
    (job,) = EXAMPLE["jobs"].values()
    without = [{**step, "with": {k: v for k, v in step["with"].items() if k != "allowlist"}}
               if step.get("id") == "mirror" else step for step in job["steps"]]
    mirror_step, check_step = readme_job.run({**job, "steps": without})
    assert mirror_step.returncode == 0, mirror_step.stdout + mirror_step.stderr
    assert check_step.returncode == 0, check_step.stdout + check_step.stderr
    allowlist = Path(readme_job.steps["mirror"]["allowlist"])
    assert allowlist.parent == readme_job.action.root / "temp" and allowlist.is_file()


def test_the_readme_pins_by_full_commit_sha_and_names_no_tag() -> None:
    (job,) = EXAMPLE["jobs"].values()
    assert [step["uses"] for step in job["steps"] if "uses" in step][-1] == THIS_ACTION
    assert "vX.Y.Z" not in README and "publishes no tags" in ACTION_SECTION
    assert re.search(r"# .*full commit SHA", ACTION_SECTION)
