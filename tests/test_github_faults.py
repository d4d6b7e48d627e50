"""GitHub faults from the stand-in: retried where GitHub says to, never a crash, never lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.github_standin import Fault, GitHubStandIn
from tests.conftest import Sandbox, deliver


@pytest.mark.parametrize("fault", [
    Fault(502, method="POST", path_contains="/comments"),
    Fault(503, method="PATCH", path_contains="/issues/1"),
    Fault(429, {"Retry-After": "1"}, method="PATCH", path_contains="/issues/comments/"),
    Fault(403, {"Retry-After": "1"}, method="POST", path_contains="/comments",
          message="You have exceeded a secondary rate limit."),
    Fault(0, method="PATCH", path_contains="/issues/1", delay=3.0),  # slower than the timeout
], ids=["502", "503", "429", "403-secondary", "timeout"])
def test_transient_github_faults_are_retried(testbed: Sandbox, github: GitHubStandIn,
                                             tmp_path: Path, name: str, fault: Fault) -> None:
    testbed.seed(name)
    github.add_issue(f"{name}:1.0")
    github.faults.append(fault)
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1)) == 0
    assert github.faults == []  # the fault was hit
    assert github.issues[1]["state_reason"] == "completed"
    assert len(github.bot_comments(1)) == 1


def test_result_comment_lost_after_copy_is_posted_next_run_without_copying(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    image = testbed.seed(name)
    github.add_issue(f"{name}:1.0")
    # The edit with the result fails on every retry: GitHub is down after the copy.
    github.faults.extend(Fault(500, method="PATCH", path_contains="/issues/comments/")
                         for _ in range(10))
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1)) == 1
    assert github.issues[1]["state"] == "open"
    assert "Syncing" in github.bot_comments(1)[0]["body"]
    github.faults.clear()
    testbed.mirror.mark()
    assert deliver(testbed, github, tmp_path, "issues", github.event("reopened", 1),
                   GITHUB_RUN_ATTEMPT="2") == 0
    [comment] = github.bot_comments(1)
    assert image.index_digest in comment["body"] and "already current" in comment["body"]
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert github.issues[1]["state_reason"] == "completed"


def test_duplicate_comment_from_a_retried_post_is_folded(testbed: Sandbox, github: GitHubStandIn,
                                                         tmp_path: Path) -> None:
    github.add_issue("docker.io/library/forbidden:1")
    github.add_issue("docker.io/library/forbidden:1")
    # An older bot comment from another run on issue 1: this run must step back.
    github.add_bot_comment(1, "<!-- mirror-bot:comment -->\nanother run's comment")
    payload = github.event("opened", 1)
    payload["issue"]["comments"] = 0  # a stale payload: the other comment is not in it
    assert deliver(testbed, github, tmp_path, "issues", payload) == 0
    assert [c["body"] for c in github.bot_comments(1)] == [
        "<!-- mirror-bot:comment -->\nanother run's comment"]
