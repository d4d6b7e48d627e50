"""The issue flow end to end: real PyGithub over HTTP to a GitHub stand-in, real registries."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.github_standin import GitHubStandIn
from tests.fixtures import MIRROR_PASSWORD, REPO_ROOT, Sandbox, deliver

# the cap's count, create the comment, check it is the only one, edit it, PATCH labels and state
MAX_REQUESTS_PER_HANDLED_ISSUE = 5


def outside_code(markdown: str) -> str:
    """The Markdown that GitHub renders as prose: fenced blocks and code spans removed."""
    without_fences = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", without_fences)


def issue_state(github: GitHubStandIn, number: int) -> tuple[str, str | None, set[str]]:
    issue = github.issues[number]
    return issue["state"], issue["state_reason"], {label["name"] for label in issue["labels"]}


def test_success_comments_labels_and_closes(testbed: Sandbox, github: GitHubStandIn,
                                            tmp_path: Path, name: str) -> None:
    image = testbed.seed(name, tag="24.04")
    issue = github.add_issue(f"docker.io/library/{name}:24.04")
    code = deliver(testbed, github, tmp_path, "issues", github.event("opened", issue["number"]))
    assert code == 0
    assert issue_state(github, 1) == ("closed", "completed", {"sync image", "sync image succeeded"})
    [comment] = github.bot_comments(1)
    target = f"{testbed.mirror.host}/docker.io/library/{name}:24.04"
    short = f"{testbed.mirror.host}/docker.io/{name}:24.04"  # the address people compose
    assert f"```text\n{target}\n{short}\n```" in comment["body"]  # the form they wrote first
    assert image.index_digest in comment["body"]
    for tool in ("docker pull", "podman pull", "nerdctl pull", "crictl pull", "image: "):
        assert f"{tool}" in comment["body"]
    assert testbed.client().head_digest(__import__("bot.image.reference").image.reference.parse(target)) == (
        image.index_digest)
    assert len(github.log) <= MAX_REQUESTS_PER_HANDLED_ISSUE
    assert [m for m, _ in github.writes()] == ["POST", "PATCH", "PATCH"]  # three writes
    summary = (tmp_path / "summary.md").read_text()
    assert "mirrored" in summary and image.index_digest in summary


def test_already_mirrored_says_so_and_copies_nothing(testbed: Sandbox, github: GitHubStandIn,
                                                     tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    testbed.syncer().sync_all([])  # nothing: the first issue mirrors it
    first = github.add_issue(f"{name}:1.0")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", first["number"])) == 0
    testbed.mirror.mark()
    second = github.add_issue(f"docker.io/library/{name}:1.0", author="bob")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", second["number"])) == 0
    assert "already current, nothing copied" in github.bot_comments(2)[0]["body"]
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert issue_state(github, 2)[:2] == ("closed", "completed")


def test_denied_closes_not_planned_and_copies_nothing(testbed: Sandbox, github: GitHubStandIn,
                                                      tmp_path: Path) -> None:
    testbed.mirror.mark()
    github.add_issue("docker.io/library/forbidden:1")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1)) == 0
    assert issue_state(github, 1) == ("closed", "not_planned", {"sync image", "sync image denied"})
    body = github.bot_comments(1)[0]["body"]
    assert "denied by rule" in body and "pull request" in body and "allowlist.yaml" in body
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert [m for m, _ in github.writes()] == ["POST", "PATCH"]


def test_not_found_closes_with_the_reason(testbed: Sandbox, github: GitHubStandIn,
                                          tmp_path: Path, name: str) -> None:
    github.add_issue(f"{name}:404")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1)) == 0
    assert issue_state(github, 1) == ("closed", "not_planned", {"sync image", "sync image invalid"})
    body = github.bot_comments(1)[0]["body"]
    assert "**not found upstream**" in body and "not\\_found" not in body


def test_transient_failure_then_retry_succeeds_with_one_comment(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    github.add_issue(f"{name}:1.0")
    broken = {"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "unreachable.conf")}
    (tmp_path / "unreachable.conf").write_text(
        testbed.registries_conf.read_text().replace(testbed.upstream.host, "127.0.0.1:9"))
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1), **broken) == 1
    assert issue_state(github, 1) == ("open", None, {"sync image", "sync image failure"})
    assert "will be retried" in github.bot_comments(1)[0]["body"]
    retry = github.comment_event(1, "/retry", "alice")
    assert deliver(testbed, github, tmp_path, "issue_comment", retry) == 0
    assert issue_state(github, 1) == ("closed", "completed", {"sync image", "sync image succeeded"})
    assert len(github.bot_comments(1)) == 1
    assert "Mirrored" in github.bot_comments(1)[0]["body"]


def test_retry_by_a_stranger_is_ignored(testbed: Sandbox, github: GitHubStandIn,
                                        tmp_path: Path) -> None:
    github.add_issue("docker.io/library/forbidden:1")
    payload = github.comment_event(1, "/retry", "mallory")
    github.reset_log()
    assert deliver(testbed, github, tmp_path, "issue_comment", payload) == 0
    assert github.writes() == []
    assert github.bot_comments(1) == []


def test_retry_by_a_maintainer_is_honoured(testbed: Sandbox, github: GitHubStandIn,
                                           tmp_path: Path) -> None:
    github.add_issue("docker.io/library/forbidden:1")
    github.permissions["maria"] = "maintain"
    assert deliver(testbed, github, tmp_path, "issue_comment",
                   github.comment_event(1, "/retry", "maria")) == 0
    assert len(github.bot_comments(1)) == 1


def test_unlabelled_issue_gets_zero_write_calls(testbed: Sandbox, github: GitHubStandIn,
                                                tmp_path: Path) -> None:
    github.add_issue("nginx", labels=())
    github.add_issue("nginx", author_type="Bot", author="renovate[bot]")
    github.add_issue("nginx", locked=True)
    for number in (1, 2, 3):
        assert deliver(testbed, github, tmp_path, "issues", github.event("opened", number)) == 0
    assert github.log == []


def test_same_event_delivered_twice_gives_one_comment(testbed: Sandbox, github: GitHubStandIn,
                                                      tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    github.add_issue(f"{name}:1.0")
    payload = github.event("opened", 1)
    assert deliver(testbed, github, tmp_path, "issues", payload) == 0
    assert deliver(testbed, github, tmp_path, "issues", payload, GITHUB_RUN_ATTEMPT="2") == 0
    assert len(github.bot_comments(1)) == 1


def test_edit_that_does_not_change_the_request_is_ignored(testbed: Sandbox, github: GitHubStandIn,
                                                          tmp_path: Path) -> None:
    github.add_issue("nginx:1.27", body="thanks!")
    payload = github.event("edited", 1, changes={"body": {"from": "thanks"}})
    assert deliver(testbed, github, tmp_path, "issues", payload) == 0
    assert github.log == []


def test_hostile_title_is_escaped_in_the_comment(testbed: Sandbox, github: GitHubStandIn,
                                                 tmp_path: Path) -> None:
    github.add_issue("@org/team <img src=x onerror=alert(1)> [x](http://evil) `a` **b**")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 1)) == 0
    prose = outside_code(github.bot_comments(1)[0]["body"])
    assert "<img" not in prose and "](http://evil)" not in prose and "**b**" not in prose
    assert not re.search(r"@\w", prose)  # no live mention


def test_flood_of_open_requests_is_refused(testbed: Sandbox, github: GitHubStandIn,
                                           tmp_path: Path) -> None:
    for _ in range(12):
        github.add_issue("docker.io/library/forbidden:1", author="flooder")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", 12)) == 0
    assert "open requests" in github.bot_comments(12)[0]["body"]
    assert issue_state(github, 12)[1] == "not_planned"


def test_cli_handle_event_with_the_local_forge(testbed: Sandbox, tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    standin = GitHubStandIn()
    standin.add_issue(f"{name}:1.0")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(standin.event("opened", 1)))
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "handle-event", "--local-forge", str(tmp_path / "forge")],
        env=testbed.env(GITHUB_EVENT_NAME="issues", GITHUB_EVENT_PATH=str(event_file)),
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "Mirrored" in completed.stdout
    state = json.loads((tmp_path / "forge" / "state.json").read_text())
    assert state["issues"]["1"]["state_reason"] == "completed"
    assert MIRROR_PASSWORD not in completed.stdout + completed.stderr


def test_secrets_stay_out_of_logs(testbed: Sandbox, github: GitHubStandIn, tmp_path: Path,
                                  name: str, capsys: pytest.CaptureFixture[str]) -> None:
    github.add_issue(f"{name}:1.0")
    deliver(testbed, github, tmp_path, "issues", github.event("opened", 1))
    captured = capsys.readouterr()
    everything = captured.out + captured.err + (tmp_path / "summary.md").read_text() + json.dumps(
        github.comments)
    assert MIRROR_PASSWORD not in everything and github.token not in everything
    assert isinstance(io.StringIO(), io.StringIO)
