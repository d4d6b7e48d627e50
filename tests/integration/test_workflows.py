"""Workflows: zizmor finds nothing unjustified, schemas validate, the workflow lint catches broken
references, event text never hits a shell, only real requests start a runner, least privilege,
and jobs install hash-pinned dependencies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot import __version__
from tests.fixtures import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / ".github"))
import workflow_lint
from workflow_expressions import evaluate, parse

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
LOCAL_ACTIONS = sorted((REPO_ROOT / ".github" / "actions").glob("*/action.yml"))
ACTIONS = [*LOCAL_ACTIONS, REPO_ROOT / "action.yml"]
SETUP_ACTION = "$/.github/actions/setup-mirror-bot"
BIN = Path(sys.executable).parent
# The jobs that push to the mirror, and so the only ones with `packages: write`.
PUSHING_JOBS = {("sync-image.yml", "sync"), ("sweep.yml", "sweep"), ("resync.yml", "resync"),
                ("follow.yml", "follow"), ("doctor.yml", "doctor")}
# What a runner's linux/3.12 interpreter reports, to evaluate dependency markers as CI would.
RUNNER_MARKERS = {"python_version": "3.12", "python_full_version": "3.12.0", "os_name": "posix",
                  "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                  "implementation_name": "cpython", "platform_python_implementation": "CPython",
                  "extra": ""}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.skip(f"{name} is installed by `pip install -e .[test]`")
    return found


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def jobs() -> list[tuple[str, str, dict]]:
    return [(w.name, name, job) for w in WORKFLOWS for name, job in load(w)["jobs"].items()]


def zizmor(*paths: Path) -> list[dict]:
    completed = subprocess.run([tool("zizmor"), "--offline", "--format", "json", *map(str, paths)],
                               capture_output=True, text=True, check=False, timeout=120)
    return json.loads(completed.stdout or "[]")


def test_zizmor_reports_nothing() -> None:
    assert zizmor(REPO_ROOT / ".github" / "workflows", *ACTIONS) == []


def test_every_zizmor_suppression_is_justified() -> None:
    for path in [*WORKFLOWS, *ACTIONS]:
        for line in path.read_text().splitlines():
            if "zizmor: ignore[" in line:
                justification = line.split("]", 1)[1].strip()
                assert len(justification.split()) >= 8, f"{path.name}: {line.strip()}"


def test_the_retry_trigger_is_flagged_without_its_justification(tmp_path: Path) -> None:
    copy = tmp_path / "workflows"
    copy.mkdir()
    text = (REPO_ROOT / ".github/workflows/sync-image.yml").read_text()
    (copy / "sync-image.yml").write_text(re.sub(r".*zizmor: ignore.*\n", "", text))
    assert any(f["ident"] == "dangerous-triggers" for f in zizmor(copy / "sync-image.yml"))


@pytest.mark.parametrize(("schema", "files"), [
    ("vendor.github-workflows", WORKFLOWS),
    ("vendor.github-actions", ACTIONS),
    ("vendor.github-issue-forms", [REPO_ROOT / ".github/ISSUE_TEMPLATE/sync-image.yml"]),
    ("vendor.github-issue-config", [REPO_ROOT / ".github/ISSUE_TEMPLATE/config.yml"]),
])
def test_schemas(schema: str, files: list[Path]) -> None:
    completed = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema,
                                *map(str, files)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


# --- the workflow lint ---------------------------------------------------------------------------

def lint(root: Path, *paths: Path) -> list[workflow_lint.Problem]:
    linter = workflow_lint.Linter(root)
    for path in paths:
        linter.lint_file(path)
    return linter.problems


def test_the_repository_lints_clean() -> None:
    assert workflow_lint.main([]) == 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's .github folder, to break one thing in."""
    shutil.copytree(REPO_ROOT / ".github", tmp_path / ".github")
    return tmp_path


def with_pages_call(repo: Path, uses: str) -> Path:
    resync = repo / ".github/workflows/resync.yml"
    text = resync.read_text()
    assert "uses: $/.github/workflows/pages.yml" in text
    resync.write_text(text.replace("uses: $/.github/workflows/pages.yml", f"uses: {uses}"))
    return resync


@pytest.mark.parametrize("uses", [
    "$.github/workflows/pages.yml",           # the self-repository prefix without its slash
    ".github/workflows/pages.yml",            # neither ./ nor $/
    "./.github/workflows/pages.yml@main",     # a local call takes no ref
    "$/.github/workflows/page.yml",           # no such workflow
    "$/.github/workflows/sweep.yml",          # not triggered by workflow_call
    "acme/mirror/.github/workflows/pages.yml",  # a remote call needs @ref
    "acme/mirror/pages.yml@v1",               # not under .github/workflows
])
def test_a_broken_reusable_workflow_call_is_flagged(repo: Path, uses: str) -> None:
    resync = with_pages_call(repo, uses)
    problems = lint(repo, resync)
    line = next(n for n, text in enumerate(resync.read_text().splitlines(), 1) if f"uses: {uses}" in text)
    assert [(p.line, p.rule) for p in problems] == [(line, "workflow-call")], problems


@pytest.mark.parametrize("uses", ["$/.github/workflows/pages.yml", "./.github/workflows/pages.yml",
                                  "acme/mirror/.github/workflows/pages.yml@0123abc"])
def test_the_documented_call_forms_pass(repo: Path, uses: str) -> None:
    # `$/` is GitHub's self-repository form (changelog 2026-07-30), which zizmor >= 1.30 prefers.
    assert lint(repo, with_pages_call(repo, uses)) == []


def test_inputs_a_callee_does_not_declare_are_flagged(repo: Path) -> None:
    resync = repo / ".github/workflows/resync.yml"
    resync.write_text(resync.read_text().replace("with-report: true", "with-reports: true"))
    assert [p.rule for p in lint(repo, resync)] == ["workflow-call"]


def test_a_required_input_left_out_is_flagged(repo: Path) -> None:
    pages = repo / ".github/workflows/pages.yml"
    pages.write_text(pages.read_text().replace("type: boolean", "type: boolean\n        required: true")
                     .replace("default: false\n", ""))
    resync = repo / ".github/workflows/resync.yml"
    resync.write_text(resync.read_text().replace("    with:\n      with-report: true\n", ""))
    problems = lint(repo, resync)
    assert [p.rule for p in problems] == ["workflow-call"] and "requires input" in problems[0].message


@pytest.mark.parametrize(("before", "after", "rule"), [
    ("needs: report", "needs: reports", "needs"),
    ("needs: index", "needs: [index, resync]", "needs"),  # a cycle
    ("if: always()", "if: always(", "expression"),
    ("if: always()", "if: github.event.x == secret.y", "expression"),  # unknown context
    ("path: index.json", "path: ${{ steps.nothing.outputs.path }}", "expression"),
    ("name: index\n", "name: ${{ needs.report.outputs.name }}\n", "expression"),
    ("- uses: $/.github/actions/setup-mirror-bot", "- uses: $/.github/actions/setup", "action"),
    ("# v4.2.2", "# v4.2.2\n      - uses: actions/checkout", "action"),
    ("run: mirror-bot index --json index.json", "run: echo ${{ github.actor }}", "run"),
])
def test_other_broken_references_are_flagged(repo: Path, before: str, after: str, rule: str) -> None:
    resync = repo / ".github/workflows/resync.yml"
    assert before in resync.read_text()
    resync.write_text(resync.read_text().replace(before, after, 1))
    assert rule in {p.rule for p in lint(repo, resync)}


def test_a_composite_run_step_without_shell_is_flagged(repo: Path) -> None:
    action = repo / ".github/actions/setup-mirror-bot/action.yml"
    action.write_text(action.read_text().replace("      shell: bash\n", "", 1))
    assert [p.rule for p in lint(repo, action)] == ["run"]


# --- who starts a runner, and the concurrency group ----------------------------------------------

SYNC = load(REPO_ROOT / ".github/workflows/sync-image.yml")["jobs"]["sync"]


def event(name: str, action: str = "created", *, labels: tuple[str, ...] = ("sync image",),
          body: str = "/retry", association: str = "NONE", commenter: str = "stranger",
          label: str | None = None, pull_request: bool = False) -> dict:
    issue = {"number": 42, "user": {"login": "alice"}, "labels": [{"name": n} for n in labels],
             "pull_request": {"url": "x"} if pull_request else None}
    payload: dict = {"action": action, "issue": issue}
    if name == "issue_comment":
        payload["comment"] = {"body": body, "author_association": association,
                              "user": {"login": commenter}}
    if label:
        payload["label"] = {"name": label}
    return {"github": {"event_name": name, "event": payload}}


@pytest.mark.parametrize(("context", "runs"), [
    (event("issues", "opened"), True),
    (event("issues", "edited"), True),
    (event("issues", "reopened"), True),
    (event("issues", "labeled", label="sync image"), True),
    (event("issues", "labeled", label="help wanted"), False),
    (event("issues", "opened", labels=("question",)), False),
    (event("issue_comment", commenter="alice"), True),                # the issue's author
    (event("issue_comment", association="OWNER"), True),
    (event("issue_comment", association="MEMBER"), True),
    (event("issue_comment", association="COLLABORATOR"), True),
    (event("issue_comment", association="CONTRIBUTOR"), False),
    (event("issue_comment", association="NONE"), False),              # anyone else's /retry
    (event("issue_comment", body="thanks!", association="OWNER"), False),
    (event("issue_comment", body="+1", commenter="alice"), False),
    (event("issue_comment", association="OWNER", pull_request=True), False),
    (event("issue_comment", association="OWNER", labels=()), False),
])
def test_only_a_real_request_starts_a_runner(context: dict, runs: bool) -> None:
    assert bool(evaluate(parse(SYNC["if"]), context)) is runs


def test_the_concurrency_group_is_per_issue_and_job_level() -> None:
    # Job-level: a job skipped by its `if:` never enters the group, so unrelated comments cannot
    # replace a request's pending run (workflow-level concurrency is evaluated before any `if:`).
    assert "concurrency" not in load(REPO_ROOT / ".github/workflows/sync-image.yml")
    group = SYNC["concurrency"]["group"]
    context = {"github": {"event": {"issue": {"number": 42}}}}
    rendered = re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(parse(m.group(1)), context)), group)
    assert rendered == "sync-image-42"
    assert SYNC["concurrency"]["cancel-in-progress"] is False
    assert SYNC["concurrency"].get("queue", "single") == "single"  # bounds what /retry spam costs


# --- privileges, pins and what jobs install -------------------------------------------------------

@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_pinned_actions_and_no_expression_in_run(path: Path) -> None:
    data = load(path)
    steps = ([s for job in data["jobs"].values() for s in job.get("steps", [])] if "jobs" in data
             else data["runs"]["steps"])
    for step in steps:
        uses = step.get("uses", "")
        pinned = re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses)
        assert uses == "" or uses.startswith("$/") or pinned, uses
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", ""), f"expression inside run: in {path.name}"
        assert "run" not in step or "jobs" in data or "shell" in step


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(workflow: Path) -> None:
    data = load(workflow)
    assert data["permissions"] == {}
    assert "pull_request_target" not in data[True]  # PyYAML reads `on:` as True
    for name, job in data["jobs"].items():
        permissions = job.get("permissions", {})
        pushes = (workflow.name, name) in PUSHING_JOBS
        assert permissions.get("packages") == ("write" if pushes else None), (workflow.name, name)


@pytest.mark.parametrize(("workflow", "name", "job"), jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_jobs_install_the_lock_and_pass_the_mirror_settings(workflow: str, name: str, job: dict) -> None:
    steps = job.get("steps", [])
    runs_bot = [s for s in steps if s.get("run", "").lstrip().startswith(("mirror-bot", "if "))
                and "mirror-bot" in s["run"]]
    assert all("pip install" not in s.get("run", "") and "apt-get" not in s.get("run", "") for s in steps)
    if not runs_bot:
        return
    setup = [s for s in steps if s.get("uses") == SETUP_ACTION]
    assert len(setup) == 1, f"{workflow}/{name} installs mirror-bot through {SETUP_ACTION}"
    copies = (workflow, name) in PUSHING_JOBS and workflow != "doctor.yml"
    assert setup[0].get("with", {}).get("copies", "false") == ("true" if copies else "false")
    if (workflow, name) in PUSHING_JOBS:  # secondary mirrors' credentials, from one secret
        assert setup[0]["with"]["registry-auth"] == "${{ secrets.MIRROR_AUTH_JSON }}"
        assert all(s["env"].get("REGISTRY_AUTH_FILE") ==
                   "${{ steps.setup.outputs.registry-auth-file }}" for s in runs_bot)
    for step in runs_bot:
        env = step.get("env", {})
        if "GITHUB_TOKEN" in env:
            assert env["MIRROR_REGISTRY"] == "${{ vars.MIRROR_REGISTRY }}"
            assert env["MIRROR_BOT_LOGIN"] == "${{ vars.MIRROR_BOT_LOGIN }}"


def test_the_setup_action_installs_hash_pinned_and_keeps_the_copy_caches() -> None:
    steps = load(REPO_ROOT / ".github/actions/setup-mirror-bot/action.yml")["runs"]["steps"]
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"] == {"python-version": "3.12"} and python["id"] == "python"
    environment, blobs = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    # The environment is keyed on everything it was built from: the lock and the exact Python.
    assert environment["with"] == {
        "path": "~/.cache/mirror-bot-venv",
        "key": "mirror-bot-venv-${{ runner.os }}-${{ steps.python.outputs.python-version }}-"
               "${{ hashFiles('requirements/*.txt') }}"}
    assert "restore-keys" not in environment["with"]  # never an environment of another lock
    dependencies, package = [s for s in steps if "pip install" in s.get("run", "")]
    assert dependencies["if"] == "steps.environment.outputs.cache-hit != 'true'"
    assert "--require-hashes" in dependencies["run"]
    assert "-r requirements/runtime.txt" in dependencies["run"]
    assert "--no-deps" in package["run"] and "if" not in package
    skopeo = next(s for s in steps if "apt-get" in s.get("run", ""))
    assert "if ! command -v skopeo" in skopeo["run"]
    assert skopeo["if"] == "inputs.copies == 'true' || inputs.skopeo == 'true'"
    assert blobs["with"]["path"].split() == ["~/.local/share/containers/cache", "~/.cache/mirror-bot"]
    assert blobs["with"]["restore-keys"] == "mirror-blob-locations-"


def test_the_setup_action_builds_an_environment_then_reuses_it(tmp_path: Path) -> None:
    """The install steps as a runner runs them: on a cache miss the locked dependencies go into
    the environment, and with it restored only the package is installed again; either way
    `mirror-bot` on the PATH the step exports is this checkout's."""
    steps = load(REPO_ROOT / ".github/actions/setup-mirror-bot/action.yml")["runs"]["steps"]
    dependencies, package = [s["run"] for s in steps if "pip install" in s.get("run", "")]
    home, github_path = tmp_path / "home", tmp_path / "github_path"
    home.mkdir()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home),
           "GITHUB_PATH": str(github_path), "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip")}
    for script in (dependencies, package, package):  # a miss, then a restored environment
        subprocess.run(["bash", "-e", "-c", script], env=env, cwd=REPO_ROOT, check=True)
    exported = github_path.read_text().split()
    assert exported == [str(home / ".cache/mirror-bot-venv/bin")] * 2
    version = subprocess.run([str(Path(exported[0]) / "mirror-bot"), "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip().endswith(__version__)


@pytest.mark.parametrize(("workflow", "triggers", "command"), [
    ("doctor.yml", {"workflow_dispatch"}, "mirror-bot doctor"),
    ("follow.yml", {"schedule", "workflow_dispatch"}, "mirror-bot follow"),
])
def test_doctor_and_follow(workflow: str, triggers: set[str], command: str) -> None:
    data = load(REPO_ROOT / ".github/workflows" / workflow)
    assert set(data[True]) == triggers
    (job,) = data["jobs"].values()
    assert job["steps"][-1]["run"] == command


def test_issue_form_applies_the_request_label() -> None:
    form = load(REPO_ROOT / ".github/ISSUE_TEMPLATE/sync-image.yml")
    assert form["labels"] == ["sync image"]


# --- the lock -------------------------------------------------------------------------------------

def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `pip-compile --generate-hashes` style file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = re.sub(r"\s*\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line.split(" --hash")[0].strip())
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            entries[canonicalize_name(requirement.name)] = (specifier.version,
                                                            re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def closure(names: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in on the runner (linux, CPython 3.12)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate(RUNNER_MARKERS)):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(requirement.name) or []
                 if not Requirement(r).marker or Marker(str(Requirement(r).marker)).evaluate(RUNNER_MARKERS)]
    return seen


@pytest.mark.parametrize(("lock", "section"), [("runtime.txt", "dependencies"),
                                               ("build.txt", "build-system")])
def test_the_lock_pins_every_dependency_with_hashes(lock: str, section: str) -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    declared = [Requirement(r) for r in (pyproject["project"]["dependencies"] if section == "dependencies"
                                         else pyproject["build-system"]["requires"])]
    pinned = read_lock(REPO_ROOT / "requirements" / lock)
    for requirement in declared:
        version, _ = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), (requirement, version)
    if section == "dependencies":
        assert closure(declared) <= set(pinned), "run `make lock` after changing dependencies"
    assert all(hashes for _, hashes in pinned.values())


def test_the_registry_auth_file_is_private_and_named_by_an_output(tmp_path: Path) -> None:
    steps = load(REPO_ROOT / ".github/actions/setup-mirror-bot/action.yml")["runs"]["steps"]
    [write] = [s for s in steps if s.get("id") == "auth"]
    output = tmp_path / "output"
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output),
           "REGISTRY_AUTH": '{"auths": {"cn.example.io": {"auth": "dTpw"}}}'}
    subprocess.run(["bash", "-e", "-c", write["run"]], env=env, check=True)
    auth_file = tmp_path / "mirror-bot-auth.json"
    assert output.read_text() == f"file={auth_file}\n"
    assert json.loads(auth_file.read_text())["auths"]["cn.example.io"]["auth"] == "dTpw"
    assert auth_file.stat().st_mode & 0o777 == 0o600
