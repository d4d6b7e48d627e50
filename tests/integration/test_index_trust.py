"""The index and resync act only on records today's configuration vouches for; one bad record
never breaks them for everyone."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bot.copy.model import SyncItem
from bot.flows.index_page import build_index
from bot.flows.resync import resync
from bot.forge.local import LocalForge
from bot.forge.protocol import IssueSnapshot
from bot.image.reference import parse
from bot.records.index import IndexEntry
from bot.records.record import COMMENT_MARKER, RecordedImage
from tests.fixtures import Sandbox

DIGEST = "sha256:" + "ef" * 32


def issue(number: int) -> IssueSnapshot:
    return IssueSnapshot(number, "x", "", "alice", False, ("sync image",), "closed", False, 1)


def add_record(forge: LocalForge, number: int, images: object) -> None:
    marker = json.dumps({"issue": number, "phase": "result", "outcome": "mirrored",
                         "at": "2026-11-01T00:00:00Z", "attempts": 0, "images": images})
    forge.create_comment(issue(number), f"{COMMENT_MARKER}\ntext\n<!-- mirror-bot:result {marker} -->")


def image(testbed: Sandbox, source: str, target: str | None = None) -> dict[str, object]:
    return {"source": source,
            "target": target or f"{testbed.mirror.host}/{source}", "digest": DIGEST}


def test_bad_records_are_skipped_with_one_warning_each(testbed: Sandbox, tmp_path: Path) -> None:
    forge = LocalForge(tmp_path, echo=False)
    add_record(forge, 1, [image(testbed, "docker.io/library/good:1")])
    add_record(forge, 2, "x")  # malformed
    add_record(forge, 3, [image(testbed, "docker.io/library/forbidden:1")])  # denied today
    add_record(forge, 4, [image(testbed, "docker.io/library/moved:1",
                                "old.example.io/docker.io/library/moved:1")])  # stale address
    add_record(forge, 5, [image(testbed, "not a reference")])
    log = io.StringIO()
    index = build_index(forge, testbed.config(), log=log)
    assert sorted(index.entries) == sorted([f"{testbed.mirror.host}/docker.io/library/good:1",
                                            "old.example.io/docker.io/library/moved:1"])
    assert index.entries["old.example.io/docker.io/library/moved:1"].stale
    warnings = log.getvalue().splitlines()
    assert len(warnings) == 3, warnings
    assert all(line.startswith("mirror-bot: skipped") for line in warnings)
    # Stale entries are listed, never resynced.
    assert [e.target for e in index.shard(0, 1)] == [
        f"{testbed.mirror.host}/docker.io/library/good:1"]


def test_resync_never_copies_what_the_allowlist_denies_today(testbed: Sandbox, name: str,
                                                             tmp_path: Path) -> None:
    testbed.seed("forbidden", tag=name)
    testbed.seed(name)
    source = parse(f"docker.io/library/{name}:1.0")
    config = testbed.config()
    mirrored = testbed.syncer().sync(SyncItem(source, *config.namer.targets(source)[:1],
                                              also=tuple(config.namer.targets(source)[1:])))
    target = str(config.namer.target(source))
    entries = [
        IndexEntry(RecordedImage(f"docker.io/library/forbidden:{name}", target,
                                 str(mirrored.digest))),
        IndexEntry(RecordedImage("not a reference", target, DIGEST)),
        IndexEntry(RecordedImage(str(source), target, str(mirrored.digest))),
    ]
    testbed.mirror.mark()
    log = io.StringIO()
    report = resync(entries, testbed.syncer(), config, log=log)
    assert [row["status"] for row in report["results"]] == ["unchanged"]
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert len(log.getvalue().splitlines()) == 2
