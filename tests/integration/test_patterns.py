"""Tag patterns in requests: expanded from the upstream tag list, capped, each tag decided."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.image.reference import parse
from bot.records import record as records
from bot.records.record import Outcome
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import Sandbox, deliver


def test_an_issue_with_a_pattern_mirrors_each_matching_tag(testbed: Sandbox, github: GitHubStandIn,
                                                           tmp_path: Path, name: str) -> None:
    for tag in ("1.0", "1.1", "2.0"):
        testbed.seed(name, tag=tag, seed=f"{name}-{tag}")
    issue = github.add_issue(f"{name}:1.*")["number"]
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue)) == 0
    body = github.bot_comments(issue)[0]["body"]
    assert github.issues[issue]["state_reason"] == "completed"
    for tag in ("1.0", "1.1"):  # the form the user wrote (no library/) is the one to pull
        assert f"docker pull {testbed.mirror.host}/docker.io/{name}:{tag}" in body
        assert f"{testbed.mirror.host}/docker.io/library/{name}:{tag}\n" in body
    assert ":2.0" not in body


def test_sync_refuses_a_pattern_over_the_cap(testbed: Sandbox, tmp_path: Path, name: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for tag in ("1.0", "1.1"):
        testbed.seed(name, tag=tag, seed=f"{name}-{tag}")
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - docker.io/library/*\nsettings:\n  max_tags_per_request: 1\n")
    code = main(["sync", "--json", f"{name}:1.*", f"{name}:9.*"],
                testbed.env(MIRROR_ALLOWLIST=str(allowlist)))
    results = json.loads(capsys.readouterr().out)["results"]
    assert code == 1
    assert [(r["status"], r["error"]["kind"]) for r in results] == [
        ("invalid", "too_many_tags"), ("invalid", "not_found")]
    assert "matches 2 tags" in results[0]["error"]["message"]


def test_six_patterns_of_nineteen_tags_copy_nothing_and_the_request_ends(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    """Issue 27 item 2: each pattern is under the cap of 20, the request is not (114 tags)."""
    names = [f"{name}-{k}" for k in range(6)]
    client = testbed.client()
    for each in names:
        testbed.seed(each, tag="1.0")
        index = client.get_manifest(parse(f"{testbed.upstream.host}/docker.io/library/{each}:1.0"))
        assert index is not None
        for n in range(1, 19):  # the same index under 18 more tags: 19 match `1.*`
            client.put_manifest(parse(f"{testbed.upstream.host}/docker.io/library/{each}:1.{n}"),
                                index)
    issue = github.add_issue(" ".join(f"{each}:1.*" for each in names))["number"]
    testbed.mirror.mark()
    assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue)) == 0
    assert testbed.mirror.manifest_requests() == {}  # nothing was copied, nothing even asked
    [comment] = github.bot_comments(issue)
    record = records.read(comment["body"])
    assert record is not None and record.outcome == Outcome.INVALID and record.images == ()
    assert github.issues[issue]["state"] == "closed"
    assert github.issues[issue]["state_reason"] == "not_planned"
    assert comment["body"].count("114 tags and images in all") == 6
    # refused before any "syncing" comment: one comment written, once
    assert [m for m, path in github.writes() if "/comments" in path] == ["POST"]
