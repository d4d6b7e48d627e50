"""What the status page shows comes from the bot's records, end to end: a request handled over
real PyGithub (the GitHub stand-in) and real registries records the platforms its copy saw, the
index and the page list them, resync records what a moved tag serves now, and the queue's
Opened column is each open request's creation time."""

from __future__ import annotations

import json
from pathlib import Path

from bot import timestamps
from bot.flows.index_page import build_index, write_outputs
from bot.flows.resync import resync
from bot.forge.github import GitHubForge
from bot.image.reference import parse
from bot.records import record as records
from bot.records.index import Index
from sandbox.github_standin import GitHubStandIn
from sandbox.images import build_image, push
from tests.fixtures import Sandbox, deliver

THREE = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def forge(github: GitHubStandIn) -> GitHubForge:
    return GitHubForge(github.repository, github.token, github.base_url, seconds_between_writes=None)


def recorded_served(github: GitHubStandIn, issue: int) -> list[tuple[str, ...]]:
    [comment] = github.bot_comments(issue)
    record = records.read(comment["body"])
    assert record is not None
    return [image.served for image in record.images]


def platforms_cell(html: str, address: str) -> str:
    row = html.split(f'data-copy="{address}"', 1)[1].split("</tr>", 1)[0]
    return row.split("<td>")[2].split("</td>")[0]


def page(index: Index, tmp_path: Path) -> str:
    write_outputs(index, None, tmp_path / "site")
    return (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_each_copy_records_the_platforms_it_saw_and_the_page_lists_them(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path, name: str) -> None:
    # an index with an attestation manifest (unknown/unknown), which is no platform
    image = build_image(testbed.workdir / "layouts" / name, "1.0", seed=name, platforms=THREE,
                        attestation=True)
    push(image, f"{testbed.upstream.host}/docker.io/library/{name}:1.0")
    testbed.seed(f"{name}-arm", platforms=THREE)
    whole = github.add_issue(f"docker.io/library/{name}:1.0")["number"]
    again = github.add_issue(f"{name}:1.0", author="bob")["number"]  # already current
    subset = github.add_issue(f"docker.io/library/{name}-arm:1.0 --platform=linux/arm64",
                              author="carol")["number"]
    for issue in (whole, again, subset):
        assert deliver(testbed, github, tmp_path, "issues", github.event("opened", issue)) == 0
    assert recorded_served(github, whole) == [THREE]
    assert recorded_served(github, again) == [()]  # nothing copied, so nothing seen
    assert recorded_served(github, subset) == [("linux/arm64",)]
    config = testbed.config()
    index = build_index(forge(github), config)
    target = str(config.namer.target(parse(f"docker.io/library/{name}:1.0")))
    # the newest record (the already-current one) keeps what the older one saw of that digest
    assert index.entries[target].issue == again
    assert index.entries[target].shown_platforms == THREE
    html = page(index, tmp_path)
    assert platforms_cell(html, target) == "linux/amd64, linux/arm64, linux/arm/v7"
    assert platforms_cell(html, target.replace(name, f"{name}-arm")) == "linux/arm64"

    # the tag moves upstream to other platforms: resync copies it and records what it serves now
    testbed.seed(name, seed=f"{name}-moved", platforms=("linux/amd64", "linux/s390x"))
    report = resync(index.shard(0, 1), testbed.syncer(), config, forge=forge(github))
    assert {row["target"]: row["status"] for row in report["results"]}[target] == "copied"
    # the record the index took (the newest) is brought up to date; the older one is history
    assert recorded_served(github, again) == [("linux/amd64", "linux/s390x")]
    assert recorded_served(github, whole) == [THREE]
    moved = page(build_index(forge(github), config), tmp_path)
    assert platforms_cell(moved, target) == "linux/amd64, linux/s390x"


def test_the_queue_says_when_each_open_request_was_opened(
        testbed: Sandbox, github: GitHubStandIn, tmp_path: Path) -> None:
    github.add_issue("docker.io/library/nginx:1.27", created_at="2026-11-29T09:14:07Z")
    github.add_issue("docker.io/library/redis:7.4", created_at="2026-11-28T22:01:00Z",
                     labels=("sync image", "sync image failure"))
    index = build_index(forge(github), testbed.config())
    assert [(q.issue, q.state, q.opened_at) for q in index.queue] == [  # oldest first
        (2, "failing", "2026-11-28T22:01:00Z"), (1, "pending", "2026-11-29T09:14:07Z")]
    clock = timestamps.parse("2026-11-29T12:00:00Z")
    write_outputs(index, tmp_path / "index.json", tmp_path / "site", clock=clock)
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    queue = html.split('<table id="queue">', 1)[1].split("</table>", 1)[0]
    assert ('<time datetime="2026-11-29T09:14:07Z" title="2026-11-29 09:14:07 UTC">'
            "2 hours ago</time>") in queue
    assert ('<time datetime="2026-11-28T22:01:00Z" title="2026-11-28 22:01:00 UTC">'
            "13 hours ago</time>") in queue
    # index.json names the field for what it holds, and reads back the same
    written = json.loads((tmp_path / "index.json").read_text())
    assert written["queue"][0]["opened_at"] == "2026-11-28T22:01:00Z"
    assert Index.from_json(written).queue == index.queue
