"""Pytest fixtures for both tiers: the loopback test bed (started once per session), the GitHub
stand-in, a name per test, and the fuzzing budget. Helpers that tests import are in fixtures.py."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from sandbox.github_standin import GitHubStandIn, serve
from sandbox.testbed import Sandbox, running_testbed, tools_installed

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
