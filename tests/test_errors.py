"""One definition of error kinds and which are transient, and what each means for a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.copy.syncer import SyncResult
from bot.errors import ErrorKind, TransferError
from bot.flows.conclude import outcome_of
from bot.flows.plan import Plan
from bot.records.record import Outcome
from sandbox.github_standin import GitHubStandIn
from tests.conftest import Sandbox, deliver

TRANSIENT = {"mirror_unauthorized", "rate_limited", "network", "timeout", "server_error",
             "digest_mismatch", "unknown"}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_each_kind_carries_its_retry_rule_and_decides_the_outcome(kind: ErrorKind) -> None:
    assert kind.transient == (kind.value in TRANSIENT)
    failed = SyncResult("docker.io/library/x:1", None, "failed", error=TransferError(kind, "x"))
    assert outcome_of(Plan(()), [failed]) == (Outcome.FAILED if kind.transient else Outcome.INVALID)


def test_a_mirror_refusing_our_credentials_is_the_maintainers_to_fix(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    issue = github.add_issue(f"{name}:1.0")["number"]
    code = deliver(testbed, github, tmp_path, "issues", github.event("opened", issue),
                   MIRROR_PASSWORD="not-the-password")
    assert code == 1  # transient: the sweep retries with its backoff
    assert github.issues[issue]["state"] == "open"
    assert {label["name"] for label in github.issues[issue]["labels"]} == {
        "sync image", "sync image failure"}
    body = github.bot_comments(issue)[0]["body"]
    assert "the maintainers of this mirror must fix them" in body
    assert "not-the-password" not in body
