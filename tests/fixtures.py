"""Helpers shared by the tests of both tiers: the repository's paths, the sandbox's credentials,
and event delivery through the workflow's entry point. Pytest fixtures live in conftest.py; what a
test imports lives here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from bot.cli import main
from bot.commands.request import request_handler
from bot.flows.sweep import Sweeper, SweepPolicy
from bot.forge.github import GitHubForge
from bot.records.record import ResultRecord
from bot.registry.backoff import Backoff
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from sandbox.github_standin import GitHubStandIn
from sandbox.testbed import (  # noqa: F401 - re-exported for the tests
    MIRROR_PASSWORD,
    MIRROR_USER,
    SOURCE_PASSWORD,
    SOURCE_USER,
    Sandbox,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT / "tests" / "data"
QUICK = Backoff(attempts=2, base_delay=0.01)  # retries that do not slow a test down


def render_record(data: dict) -> str:
    """The record line for `data` (a record's JSON fields), as the bot writes it."""
    return ResultRecord.from_json(data).render()


def github_env(github: GitHubStandIn) -> dict[str, str]:
    """The variables that point the bot at the GitHub stand-in, writing without pauses."""
    return {"GITHUB_REPOSITORY": github.repository, "GITHUB_TOKEN": github.token,
            "GITHUB_API_URL": github.base_url, "MIRROR_GITHUB_WRITE_INTERVAL": "0"}


def sweeper(testbed: Sandbox, github: GitHubStandIn, now: datetime) -> Sweeper:
    """A sweep through PyGithub against the stand-in, at the time `now`."""
    forge = GitHubForge(github.repository, github.token, github.base_url,
                        seconds_between_writes=None)
    handler = request_handler(testbed.config(), forge)
    handler.clock = lambda: now
    return Sweeper(handler, forge, SweepPolicy(max_attempts=3), clock=lambda: now)


def registry_client(conf: Path, credentials: Credentials | None = None, *,
                    retry: Backoff = QUICK, **options: object) -> RegistryClient:
    """The real registry client over the registries.conf at `conf`, 10 s timeout."""
    return RegistryClient(RegistriesConf.load(conf), credentials or Credentials(), 10,
                          retry=retry, **options)  # type: ignore[arg-type]


def run_cli(*args: str, env: Mapping[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` as a process, in the repository, with `env` (else this one's)."""
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          check=False, cwd=REPO_ROOT, timeout=timeout,
                          env=dict(os.environ if env is None else env))


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
