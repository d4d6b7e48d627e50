"""GitHub faults from the stand-in: retried where GitHub says to, never a crash, never lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.forge.github import GitHubForge
from bot.forge.protocol import ForgeError, IssueSnapshot
from bot.records import record as records
from bot.records.record import Outcome
from sandbox.github_standin import Fault, GitHubStandIn
from tests.fixtures import Sandbox, deliver


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


# -- every failure after PyGithub's retries is a one-line ForgeError ----------------------------

def quick_forge(github: GitHubStandIn) -> GitHubForge:
    return GitHubForge(github.repository, github.token, github.base_url, retry_total=2,
                       backoff=0.01, secondary_rate_wait=0.1, seconds_between_writes=None,
                       timeout=2, trust_comment_count=False)


def outage(github: GitHubStandIn, path: str, method: str | None = None) -> None:
    github.faults.extend(Fault(502, method=method, path_contains=path) for _ in range(5))


CALLS: dict[str, tuple[str, Callable[[GitHubForge, IssueSnapshot], object]]] = {
    "permission": ("/permission", lambda forge, issue: forge.permission("bob")),
    "open_requests": ("/graphql", lambda forge, issue: forge.open_requests("sync image")),
    "all_bot_comments": ("/graphql", lambda forge, issue: list(forge.all_bot_comments())),
    "open_request_issues": ("/issues", lambda forge, issue: forge.open_request_issues("sync image")),
    "bot_comments": ("/comments", lambda forge, issue: forge.bot_comments(issue)),
    "create_comment": ("/comments", lambda forge, issue: forge.create_comment(issue, "x")),
    "update_issue": ("/issues/1", lambda forge, issue: forge.update_issue(issue, [], None, None)),
    "open_requests_by": ("/issues", lambda forge, issue: forge.open_requests_by("alice", "x", 2)),
    "rewrite_comment": ("/issues/comments/", lambda forge, issue: forge.rewrite_comment(
        1, lambda body: body)),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_outage_is_a_one_line_forge_error(github: GitHubStandIn, call: str) -> None:
    """A GitHub outage during the /retry permission check, a listing or a write: ForgeError
    (the handler maps it to exit 1 and the issue stays for the sweep), never a crash."""
    issue = IssueSnapshot.from_payload(github.add_issue("nginx:1"))
    path, run = CALLS[call]
    outage(github, path)
    with pytest.raises(ForgeError) as raised:
        run(quick_forge(github), issue)
    assert "\n" not in str(raised.value) and call in str(raised.value)
    assert len([entry for entry in github.log if path in entry[1]]) == 3  # tried, retried twice


@pytest.mark.parametrize(("fault", "says"), [
    (Fault(200, method="GET", path_contains="/issues", body={"message": "not a list"}),
     "not a list"),
    (Fault(200, {"Link": '<http://evil.example/repos/acme/mirror/issues?page=2>; rel="next"'},
           method="GET", path_contains="/issues", body=[]), "another host"),
    (Fault(200, method="POST", path_contains="/graphql", body={"data": None}), "unexpected shape"),
    (Fault(200, method="POST", path_contains="/graphql",
           body={"data": {"repository": None}, "errors": [
               {"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}]}),
     "open_requests"),
], ids=["rest-not-a-list", "next-page-elsewhere", "graphql-no-data", "graphql-error"])
def test_a_malformed_answer_is_a_forge_error(github: GitHubStandIn, fault: Fault, says: str) -> None:
    github.add_issue("nginx:1")
    github.faults.append(fault)
    forge = quick_forge(github)
    run = forge.open_requests if fault.path_contains == "/graphql" else forge.open_request_issues
    with pytest.raises(ForgeError, match=says) as raised:
        run("sync image")
    assert "\n" not in str(raised.value)


def test_a_comment_github_refuses_as_too_long_is_written_short_and_the_request_ends(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    """Issue 27 item 2: GitHub's 422 "Body is too long" on the result comment (here at a lower
    limit than the bot's own bound, as if GitHub counted otherwise) gets the short comment:
    one line, the job summary's link and the record, so the issue does not stay syncing."""
    image = testbed.seed(name)
    github.add_issue(f"{name}:1.0")
    github.max_comment = 900  # the result comment is longer, the short one fits
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1)) == 0
    [comment] = github.bot_comments(1)
    _, line, _ = comment["body"].rstrip("\n").split("\n")
    assert line.startswith("✅ Mirrored — the full result is too long for a comment")
    assert "](https://github.com/acme/mirror/actions/runs/42)" in line
    record = records.read(comment["body"])
    assert record is not None and record.outcome == Outcome.MIRRORED
    assert [i.digest for i in record.images] == [image.index_digest]
    assert github.issues[1]["state_reason"] == "completed"
    # the syncing comment fits; the result is refused, then written short
    assert [m for m, path in github.writes() if "/comments" in path] == ["POST", "PATCH", "PATCH"]
    assert f"{name}:1.0" in (tmp_path / "summary.md").read_text()  # the summary lists it
