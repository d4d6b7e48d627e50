"""Issue 10's reproductions, replayed: comments that look like the bot's records, written by
anyone else, neither reach the mirror nor block, hijack or close a request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import main
from bot.image.reference import parse
from bot.records.record import COMMENT_MARKER, ResultRecord
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import Sandbox, deliver, github_env, sweeper

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FAR_FUTURE = "2099-01-01T00:00:00Z"
HOUR_AGO = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def forged(number: int, **fields: object) -> str:
    data = {"issue": number, "phase": "result", "at": FAR_FUTURE, "attempts": 0, **fields}
    return f"{COMMENT_MARKER}\nlooks official\n{ResultRecord.from_json(data).render()}"


def test_a_forged_record_never_reaches_the_index_or_the_mirror(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    testbed.seed("forbidden", tag=name)
    issue = github.add_issue(f"{name}:1.0")["number"]
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue)) == 0
    target = f"{testbed.mirror.host}/docker.io/library/{name}:1.0"
    digest_before = testbed.client().head_digest(parse(target))
    for source, forged_target in ((f"docker.io/library/forbidden:{name}", target),
                                  (f"docker.io/library/{name}-other:1.0",
                                   f"{testbed.mirror.host}/docker.io/library/{name}-other:1.0")):
        other = github.add_issue(source, author="mallory")["number"]
        github.add_comment(other, forged(other, outcome="mirrored", images=[{
            "source": source, "target": forged_target, "digest": "sha256:" + "0" * 64}]),
            "mallory")
    index_file = tmp_path / "index.json"
    env = testbed.env(**github_env(github))
    assert main(["index", "--json", str(index_file)], env) == 0
    images = json.loads(index_file.read_text())["images"]
    assert [(i["source"], i["target"]) for i in images] == [(f"docker.io/library/{name}:1.0",
                                                            target)]
    testbed.mirror.mark()
    report = tmp_path / "report.json"
    assert main(["resync", "--index", str(index_file), "--output", str(report)], env) == 0
    assert json.loads(report.read_text())["counts"] == {"unchanged": 1}
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert testbed.client().head_digest(parse(target)) == digest_before


def test_a_marker_posted_first_by_someone_else_does_not_block_the_request(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    issue = github.add_issue(f"{name}:1.0")["number"]
    github.add_comment(issue, forged(issue, phase="syncing", outcome=None), "mallory")
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue),
                   GITHUB_RUN_ATTEMPT="2") == 0
    assert github.issues[issue]["state"] == "closed"
    assert len(github.bot_comments(issue)) == 1


def test_a_forged_syncing_record_does_not_hold_the_sweep(testbed: Sandbox, github: GitHubStandIn,
                                                         name: str) -> None:
    testbed.seed(name)
    issue = github.add_issue(f"{name}:1.0", created_at=HOUR_AGO)["number"]
    github.add_comment(issue, forged(issue, phase="syncing"), "mallory")
    [(decision, outcome)] = sweeper(testbed, github, NOW).run()
    assert decision.reason == "no run finished it" and outcome is not None
    assert outcome.name == "mirrored"


def test_forged_failures_never_close_someone_elses_request(testbed: Sandbox,
                                                           github: GitHubStandIn,
                                                           name: str) -> None:
    testbed.seed(name)
    issue = github.add_issue(f"{name}:1.0", created_at=HOUR_AGO,
                             labels=("sync image", "sync image failure"))["number"]
    github.add_comment(issue, forged(issue, outcome="failed", attempts=99,
                                     at=(NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")),
                       "mallory")
    [(decision, outcome)] = sweeper(testbed, github, NOW).run()
    assert decision.action == "process" and outcome is not None and outcome.name == "mirrored"
    assert github.issues[issue]["state_reason"] == "completed"


def test_retry_writes_into_the_bots_own_comment_never_the_users(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    issue = github.add_issue(f"{name}:1.0")["number"]
    fake = github.add_comment(issue, forged(issue, outcome="failed"), "alice")
    retry = github.comment_event(issue, "/retry", "alice")
    assert deliver(testbed, github, tmp_path, "issue_comment", retry) == 0
    assert github.comments[fake["id"]]["body"] == fake["body"]
    [own] = github.bot_comments(issue)
    assert own["id"] != fake["id"] and "Mirrored" in own["body"]
