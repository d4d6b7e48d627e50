"""Shared fixtures: the loopback test bed (started once per session), the GitHub stand-in,
and event delivery through the workflow's entry point."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bot.cli import main
from sandbox.github_standin import GitHubStandIn, serve
from sandbox.testbed import (  # noqa: F401 - re-exported for the tests
    MIRROR_PASSWORD,
    MIRROR_USER,
    SOURCE_PASSWORD,
    SOURCE_USER,
    Sandbox,
    running_testbed,
    tools_installed,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fuzzing budget: bounded, and larger in CI (CI=true) than on a developer's machine.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if not tools_installed():
        pytest.skip("skopeo and docker-registry are installed by scripts/setup.sh")
    with running_testbed(tmp_path_factory.mktemp("testbed")) as bed:
        yield bed


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the test, so tests share registries without interfering."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """A fresh GitHub REST stand-in over real HTTP."""
    with serve(GitHubStandIn()) as standin:
        yield standin


def deliver(testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str,
            payload: dict, **extra: str) -> int:
    """Run `handle-event` on `payload` as the workflow would, against the stand-in."""
    event_file = tmp_path / f"event-{len(list(tmp_path.glob('event-*')))}.json"
    event_file.write_text(json.dumps(payload))
    env = testbed.env(
        GITHUB_EVENT_NAME=name, GITHUB_EVENT_PATH=str(event_file),
        GITHUB_REPOSITORY=github.repository, GITHUB_TOKEN=github.token,
        GITHUB_API_URL=github.base_url, GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="42", GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        MIRROR_GITHUB_WRITE_INTERVAL="0", MIRROR_GITHUB_BACKOFF="0.01",
        MIRROR_GITHUB_SECONDARY_WAIT="1", MIRROR_GITHUB_TIMEOUT="2")
    env.update(extra)
    return main(["handle-event"], env)
