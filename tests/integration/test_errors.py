"""What an error kind means for a request, end to end: a mirror refusing our credentials is the
maintainers' to fix (a real registry behind the GitHub stand-in)."""

from __future__ import annotations

from pathlib import Path

from sandbox.github_standin import GitHubStandIn
from tests.fixtures import Sandbox, deliver


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
