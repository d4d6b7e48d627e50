"""The sweep: interrupted requests are finished exactly once; failures back off, then stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.request import request_handler
from bot.flows.sweep import Sweeper, SweepPolicy
from bot.forge.github import GitHubForge
from bot.records.record import COMMENT_MARKER
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import Sandbox, github_env, render_record, sweeper

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOUR_AGO = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def bot_comment(github: GitHubStandIn, number: int, **marker: object) -> None:
    github.add_bot_comment(number, f"{COMMENT_MARKER}\nold text\n{render_record(marker)}")


def test_interrupted_request_is_finished_exactly_once(testbed: Sandbox, github: GitHubStandIn,
                                                      name: str) -> None:
    image = testbed.seed(name)
    github.add_issue(f"{name}:1.0", created_at=HOUR_AGO)
    testbed.mirror.mark()
    [(decision, outcome)] = sweeper(testbed, github, NOW).run()
    assert (decision.action, outcome.name) == ("process", "mirrored")
    assert github.issues[1]["state"] == "closed"
    assert len(github.bot_comments(1)) == 1 and image.index_digest in github.bot_comments(1)[0]["body"]
    index_puts = [p for m, p, _ in testbed.mirror.requests()
                  if m == "PUT" and p.endswith("/manifests/1.0")]
    assert sorted(index_puts) == [f"/v2/docker.io/library/{name}/manifests/1.0",
                                  f"/v2/docker.io/{name}/manifests/1.0"]  # once per address
    assert sweeper(testbed, github, NOW).run() == []  # nothing left to do


def test_a_run_that_died_while_syncing_is_finished_in_its_own_comment(
        testbed: Sandbox, github: GitHubStandIn, name: str) -> None:
    testbed.seed(name)
    github.add_issue(f"{name}:1.0", created_at=HOUR_AGO)
    bot_comment(github, 1, issue=1, phase="syncing", at=(NOW - timedelta(hours=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), attempts=0, images=[])
    [(decision, outcome)] = sweeper(testbed, github, NOW).run()
    assert decision.reason == "its run died while syncing" and outcome.name == "mirrored"
    assert len(github.bot_comments(1)) == 1


def test_a_live_run_and_a_brand_new_issue_are_left_alone(testbed: Sandbox,
                                                         github: GitHubStandIn) -> None:
    github.add_issue("nginx:1", created_at=HOUR_AGO)
    bot_comment(github, 1, issue=1, phase="syncing", at=(NOW - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), attempts=0, images=[])
    github.add_issue("nginx:2", created_at=(NOW - timedelta(minutes=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"))
    github.reset_log()
    decisions = sweeper(testbed, github, NOW).run()
    assert [d.action for d, _ in decisions] == ["wait", "wait"]
    assert github.writes() == []


@pytest.mark.parametrize(("attempts", "minutes_ago", "action"), [
    (1, 10, "wait"),      # first retry after 30 min
    (1, 31, "process"),
    (2, 50, "wait"),      # second retry after 60 min
    (2, 61, "process"),
    (3, 1, "give_up"),    # the cap
])
def test_failures_back_off_and_stop_at_the_cap(testbed: Sandbox, github: GitHubStandIn,
                                               attempts: int, minutes_ago: int,
                                               action: str) -> None:
    github.add_issue("docker.io/library/forbidden:1", created_at=HOUR_AGO,
                     labels=("sync image", "sync image failure"))
    bot_comment(github, 1, issue=1, phase="result", outcome="failed", attempts=attempts,
                at=(NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                images=[])
    [(decision, _)] = sweeper(testbed, github, NOW).run()
    assert decision.action == action
    if action == "give_up":
        assert github.issues[1]["state_reason"] == "not_planned"
        assert "gave up after 3 attempts" in github.bot_comments(1)[0]["body"]
    assert len(github.bot_comments(1)) == 1


def test_failed_attempts_are_counted_in_the_marker(testbed: Sandbox, github: GitHubStandIn,
                                                   tmp_path: Path, name: str) -> None:
    github.add_issue(f"{name}:1.0", created_at=HOUR_AGO)
    unreachable = tmp_path / "unreachable.conf"
    unreachable.write_text(testbed.registries_conf.read_text().replace(testbed.upstream.host,
                                                                        "127.0.0.1:9"))
    forge = GitHubForge(github.repository, github.token, github.base_url,
                        seconds_between_writes=None)
    handler = request_handler(testbed.config(CONTAINERS_REGISTRIES_CONF=str(unreachable)), forge)
    for expected in (1, 2):
        moment = NOW + timedelta(days=expected)
        handler.clock = lambda moment=moment: moment
        Sweeper(handler, forge, SweepPolicy(), clock=handler.clock).run()
        assert f'"attempts":{expected}' in github.bot_comments(1)[0]["body"]


def test_the_sweep_writes_the_job_summary_its_comments_point_to(
        testbed: Sandbox, github: GitHubStandIn, name: str, tmp_path: Path) -> None:
    """A long comment points to the run's job summary (issue 27 item 2): the sweep's run writes
    one too, with every image of each request it concluded."""
    testbed.seed(name)
    github.add_issue(f"{name}:1.0", created_at=HOUR_AGO)
    summary = tmp_path / "summary.md"
    env = testbed.env(**github_env(github), GITHUB_STEP_SUMMARY=str(summary))
    assert main(["sweep"], env) == 0
    text = summary.read_text()
    assert text.startswith("## mirror-bot: issue #1 — mirrored")
    assert f"docker.io/library/{name}:1.0" in text and "| copied |" in text
