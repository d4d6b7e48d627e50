"""The pull quota in the issue flow, follow and resync: real PyGithub over HTTP to the GitHub
stand-in, real registries behind the Docker Hub stand-in (the fault proxy's PullQuota).

A request the quota defers stays open with one comment saying it waits for the registry's quota
and when it resumes, no failure label, its attempts unchanged (five waits never give it up), and
`handle-event` and the sweep exit 0; the status page says "waiting until T"; the sweep takes it
up at that time and finishes it. `follow` lists a tag the quota deferred as deferred (never as
synced) and exits 0; `resync` reports deferred rows and exits 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import timestamps
from bot.cli import main
from bot.commands.request import request_handler
from bot.flows.index_page import build_index, write_outputs
from bot.flows.sweep import Sweeper, SweepPolicy
from bot.forge.github import GitHubForge
from bot.forge.local import LocalForge
from bot.records.index import Index, IndexEntry
from bot.records.record import RecordedImage, ResultRecord, read
from sandbox.fault_proxy import FaultProxy, PullQuota, Rule, serve_proxy
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import Sandbox, deliver

HOUR = timedelta(hours=1)


@dataclass
class Hub:
    """Docker Hub's stand-in in front of the test bed's upstream, and its registries.conf."""

    testbed: Sandbox
    proxy: FaultProxy
    conf: Path

    @property
    def quota(self) -> PullQuota:
        assert self.proxy.quota is not None
        return self.proxy.quota

    def spend(self, left: int) -> None:
        """Someone sharing the address spent the quota down to `left` pulls."""
        self.proxy.refill(limit=100)
        self.quota.spent = 100 - left

    def env(self, **extra: str) -> dict[str, str]:
        return self.testbed.env(CONTAINERS_REGISTRIES_CONF=str(self.conf), **extra)

    def sweeper(self, github: GitHubStandIn, now: datetime) -> Sweeper:
        forge = GitHubForge(github.repository, github.token, github.base_url,
                            seconds_between_writes=None)
        handler = request_handler(self.testbed.config(CONTAINERS_REGISTRIES_CONF=str(self.conf)),
                                  forge)
        handler.clock = lambda: now
        return Sweeper(handler, forge, SweepPolicy(max_attempts=3), clock=lambda: now)


@pytest.fixture
def hub(testbed: Sandbox, tmp_path: Path) -> Iterator[Hub]:
    with serve_proxy(FaultProxy(testbed.upstream.host, quota=PullQuota(100))) as proxy:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{proxy.host}/docker.io"\n'
            f'insecure = true\n[[registry]]\nlocation = "{proxy.host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
        yield Hub(testbed, proxy, conf)


def labels_of(github: GitHubStandIn, number: int) -> set[str]:
    return {label["name"] for label in github.issues[number]["labels"]}


def the_record(github: GitHubStandIn, number: int) -> ResultRecord:
    [comment] = github.bot_comments(number)
    record = read(comment["body"])
    assert record is not None
    return record


def test_a_deferred_request_waits_then_the_sweep_finishes_it(
        hub: Hub, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    image = hub.testbed.seed(name)
    hub.spend(left=5)  # a cold copy of an image no record saw reserves 1 + 10
    issue = github.add_issue(f"docker.io/library/{name}:1.0")
    before = timestamps.now().replace(microsecond=0)
    code = deliver(hub.testbed, github, tmp_path, "issues", github.event("opened", issue["number"]),
                   CONTAINERS_REGISTRIES_CONF=str(hub.conf))
    assert code == 0
    assert github.issues[1]["state"] == "open" and labels_of(github, 1) == {"sync image"}
    record = the_record(github, 1)
    assert (record.outcome, record.attempts, record.images) == ("deferred", 0, ())
    resume = timestamps.parse(record.resume_after)
    # 11 pulls of 100 per 6 hours come back in about 40 minutes.
    assert resume is not None and before + 39 * timedelta(minutes=1) <= resume <= \
        before + 41 * timedelta(minutes=1) + timedelta(seconds=5)
    [comment] = github.bot_comments(1)
    assert "Waiting for the registry's pull quota" in comment["body"]
    assert f"resumes by itself after `{record.resume_after}`" in comment["body"]
    assert "retried" not in comment["body"] and hub.quota.spent == 95  # nothing was GET
    assert "deferred" in (tmp_path / "summary.md").read_text()

    # The status page: waiting until that time.
    forge = GitHubForge(github.repository, github.token, github.base_url,
                        seconds_between_writes=None)
    index = build_index(forge, hub.testbed.config())
    [entry] = index.queue
    assert (entry.state, entry.resume_after) == ("waiting", record.resume_after)
    write_outputs(index, None, tmp_path / "site", clock=resume - HOUR)
    page = (tmp_path / "site" / "index.html").read_text()
    assert f'waiting until <time datetime="{record.resume_after}"' in page

    # Before its time the sweep leaves it (no write); five waits do not give it up.
    github.reset_log()
    [(decision, outcome)] = hub.sweeper(github, resume - timedelta(minutes=1)).run()
    assert decision.action == "wait" and outcome is None and github.writes() == []
    for wait in range(5):  # the quota is still spent each time it resumes
        later = resume + wait * HOUR + timedelta(seconds=1)
        [(decision, outcome)] = hub.sweeper(github, later).run()
        assert (decision.action, outcome.name, outcome.exit_code) == ("process", "deferred", 0)
        assert the_record(github, 1).attempts == 0
        resume = timestamps.parse(the_record(github, 1).resume_after) or resume
        hub.spend(left=5)
    assert github.issues[1]["state"] == "open" and labels_of(github, 1) == {"sync image"}

    # Its time comes with pulls back: the sweep takes it up and mirrors it.
    hub.proxy.refill()
    [(decision, outcome)] = hub.sweeper(github, resume + timedelta(seconds=1)).run()
    assert (decision.reason, outcome.name) == ("the registry's quota is back", "mirrored")
    assert github.issues[1]["state"] == "closed" and len(github.bot_comments(1)) == 1
    record = the_record(github, 1)
    assert [(i.digest, i.entries) for i in record.images] == [(image.index_digest, 2)]
    assert record.resume_after == "" and hub.quota.refused == 0


def test_follow_lists_tags_the_quota_deferred_and_exits_0(
        hub: Hub, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    repository = f"{name}-follow"
    for tag in ("1.0.0", "1.1.0", "1.2.0"):
        hub.testbed.seed(repository, tag=tag, seed=f"{name}-{tag}", platforms=("linux/amd64",),
                         layer_sizes=(256,))
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(f"subscriptions:\n  - image: docker.io/library/{repository}\n"
                             "    tags:\n      semver: \">=1.0.0\"\n")
    env = hub.env(MIRROR_SUBSCRIPTIONS=str(subscriptions))
    forge = tmp_path / "forge"
    hub.spend(left=12)  # the newest tag (1 + 10 reserved, 2 spent) fits; then 10 are left

    def follow() -> tuple[int, dict]:
        code = main(["follow", "--json", "--local-forge", str(forge)], env)
        [subscription] = json.loads(capsys.readouterr().out)["subscriptions"]
        return code, subscription

    code, first = follow()
    assert code == 0
    assert [(s["tag"], s["status"]) for s in first["synced"]] == [("1.2.0", "copied")]
    assert [(d["tag"], d["reason"]) for d in first["deferred"]] == [
        ("1.1.0", "rate_limited"), ("1.0.0", "rate_limited")]
    assert all(timestamps.parse(d["resume_after"]) for d in first["deferred"])
    recorded = LocalForge(forge, echo=False)
    [comment] = [c for c in recorded.all_bot_comments("sync image follow")]
    record = read(comment.body)
    assert record is not None and [i.source.rsplit(":", 1)[1] for i in record.images] == ["1.2.0"]
    hub.proxy.refill()
    code, second = follow()
    assert code == 0 and second["deferred"] == []
    assert [(s["tag"], s["status"]) for s in second["synced"]] == [
        ("1.2.0", "unchanged"), ("1.1.0", "copied"), ("1.0.0", "copied")]
    assert hub.quota.refused == 0
    # A tag listing refused with a 429 fails nothing either: the next run lists again.
    hub.proxy.add(Rule("status", "GET", "/tags/list", times=1, status=429))
    code, third = follow()
    assert code == 0 and third["error"]["kind"] == "rate_limited" and third["synced"] == []


def test_resync_reports_deferred_images_and_exits_0(hub: Hub, tmp_path: Path, name: str) -> None:
    entries = []
    for tag in ("1.0", "2.0"):
        image = hub.testbed.seed(name, tag=tag, seed=f"{name}-{tag}")
        target = f"{hub.testbed.mirror.host}/docker.io/library/{name}:{tag}"
        # Recorded at an older digest: upstream moved, a copy is due.
        entries.append(IndexEntry(RecordedImage(f"docker.io/library/{name}:{tag}", target,
                                                "sha256:" + "0" * 64, entries=2),
                                  last_sync="2026-11-29T12:00:00Z"))
        assert image.index_digest
    index = Index(generated_at="2026-11-29T12:00:00Z")
    for entry in entries:
        index.add(entry)
    index_path, report_path = tmp_path / "index.json", tmp_path / "report.json"
    index_path.write_text(json.dumps(index.to_json()))
    hub.spend(left=4)  # one copy of 1 + 2 pulls fits, the second does not
    code = main(["resync", "--index", str(index_path), "--output", str(report_path)], hub.env())
    assert code == 0
    report = json.loads(report_path.read_text())
    rows = sorted(report["results"], key=lambda row: row["status"])
    assert [(r["status"], r["pulls"]) for r in rows] == [("copied", 3), ("deferred", 0)]
    assert rows[1]["error"]["kind"] == "rate_limited" and timestamps.parse(rows[1]["resume_after"])
    assert report["counts"] == {"copied": 1, "deferred": 1} and hub.quota.refused == 0
