"""docs/kubernetes.md holds to the code: its Indexed Job runs every shard of the N it names, with
arguments the CLI accepts and variables bot/config.py reads, and its image installs mirror-bot as
the set-up action does."""

from __future__ import annotations

import json
import re

import yaml

from bot.cli import build_parser
from bot.records.index import parse_shard
from tests.fixtures import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.S)


def block(language: str) -> str:
    [text] = [text for lang, text in BLOCKS if lang == language]
    return text


def job_spec() -> dict:
    cronjob = yaml.safe_load(block("yaml"))
    assert cronjob["kind"] == "CronJob" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    return cronjob["spec"]["jobTemplate"]["spec"]


def test_the_indexed_job_runs_each_shard_of_its_completions_once() -> None:
    spec = job_spec()
    assert spec["completionMode"] == "Indexed"
    [container] = spec["template"]["spec"]["containers"]
    args = container["args"]
    [shard] = [a.removeprefix("--shard=") for a in args if a.startswith("--shard=")]
    assert shard == f"$(JOB_COMPLETION_INDEX)/{spec['completions']}"
    split = set()
    for index in range(spec["completions"]):  # what each pod's arguments become
        expanded = [a.replace("$(JOB_COMPLETION_INDEX)", str(index)) for a in args]
        options = build_parser().parse_args(expanded)
        split.add(parse_shard(options.shard))
    assert split == {(i, spec["completions"]) for i in range(spec["completions"])}


def test_the_pods_read_the_index_the_init_container_wrote() -> None:
    spec = job_spec()["template"]["spec"]
    [init] = spec["initContainers"]
    written = init["args"][init["args"].index("-o") + 1]
    [container] = spec["containers"]
    assert f"--index={written}" in container["args"]
    assert written.startswith(tuple(m["mountPath"] for m in container["volumeMounts"]))


def test_the_job_sets_only_variables_mirror_bot_reads() -> None:
    config = (REPO_ROOT / "bot" / "config.py").read_text()
    [container] = job_spec()["template"]["spec"]["containers"]
    names = [variable["name"] for variable in container["env"]]
    mentioned = [name for name in re.findall(r"`([A-Z][A-Z_]+_[A-Z]+)`", DOC)
                 if name != "JOB_COMPLETION_INDEX"]  # Kubernetes' own
    assert names and mentioned
    assert [name for name in [*names, *mentioned] if f'"{name}"' not in config] == []


def test_the_shard_plan_shown_is_what_index_writes() -> None:
    [console] = [text for lang, text in BLOCKS if lang == "console"]
    lines = console.splitlines()
    assert lines[0] == "$ mirror-bot index --json index.json --shard-plan /dev/stdout"
    count = int(lines[1].removeprefix("count="))
    assert lines[2] == f"shards={json.dumps(list(range(count)))}"
    assert count == job_spec()["completions"]


def test_the_image_installs_the_lock_as_the_setup_action_does() -> None:
    dockerfile = block("dockerfile")
    setup = (REPO_ROOT / ".github/actions/setup-mirror-bot/action.yml").read_text()
    for step in ("--require-hashes", "-r requirements/runtime.txt -r requirements/build.txt",
                 "--no-deps --no-build-isolation"):
        assert step in setup and step.replace("requirements/", "/src/requirements/") in \
            " ".join(dockerfile.replace("\\\n", " ").split())
    assert "--no-build-isolation /src" in dockerfile and "skopeo" in dockerfile
    assert "python:3.12" in dockerfile  # the Python the lock is resolved for on the runner
