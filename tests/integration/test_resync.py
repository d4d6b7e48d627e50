"""Resync: only moved tags are copied; gone images are reported and kept; shards split cleanly."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.copy.model import SyncItem
from bot.flows.index_page import build_index
from bot.flows.resync import merge_reports, resync
from bot.forge.local import LocalForge
from bot.forge.protocol import IssueSnapshot
from bot.image.oci import subset_index
from bot.image.reference import parse
from bot.records.index import Index, IndexEntry, shard_of
from bot.records.record import COMMENT_MARKER, RecordedImage
from tests.fixtures import REPO_ROOT, Sandbox, render_record


def mirror_and_record(testbed: Sandbox, names: list[str], forge: LocalForge) -> Index:
    """Mirror each image and record it as a succeeded issue's comment, as handle-event does."""
    config = testbed.config()
    for number, name in enumerate(names, 1):
        source = parse(f"docker.io/library/{name}:1.0")
        target, *also = config.namer.targets(source)
        result = testbed.syncer().sync(SyncItem(source, target, also=tuple(also)))
        assert result.status == "copied", result.error
        issue = IssueSnapshot(number, name, "", "alice", False, ("sync image",), "open", False, 0)
        forge.create_comment(issue, f"{COMMENT_MARKER}\ndigest {result.digest}\n" + render_record({
            "issue": number, "phase": "result", "outcome": "mirrored", "at": "2026-11-01T00:00:00Z",
            "attempts": 0, "images": [{"source": str(source), "target": str(result.target),
                                       "digest": result.digest, "platforms": [],
                                       "also": [str(a) for a in result.addresses[1:]]}]}))
    return build_index(forge, config)


def delete_upstream_tag(testbed: Sandbox, name: str, digest: str) -> None:
    request = urllib.request.Request(
        f"http://{testbed.upstream.host}/v2/docker.io/library/{name}/manifests/{digest}",
        method="DELETE")
    urllib.request.urlopen(request, timeout=10)


def test_resync_copies_only_what_moved(testbed: Sandbox, name: str, tmp_path: Path) -> None:
    names = [f"{name}-{i}" for i in range(3)]
    for n in names:
        testbed.seed(n)
    forge = LocalForge(tmp_path / "forge", echo=False)
    index = mirror_and_record(testbed, names, forge)
    moved = testbed.seed(names[1], seed="moved")
    gone = testbed.client().head_digest(parse(f"docker.io/library/{names[2]}:1.0"))
    delete_upstream_tag(testbed, names[2], gone)
    testbed.upstream.mark()
    testbed.mirror.mark()
    report = resync(index.sorted_entries(), testbed.syncer(), testbed.config(), jobs=2, forge=forge)
    statuses = {row["source"].split("/")[-1]: row["status"] for row in report["results"]}
    assert statuses == {f"{names[0]}:1.0": "unchanged", f"{names[1]}:1.0": "copied",
                        f"{names[2]}:1.0": "gone_upstream"}
    upstream_gets = {path for method, path, _ in testbed.upstream.requests()
                     if method == "GET" and "/manifests/" in path}
    assert upstream_gets and all(names[1] in path for path in upstream_gets)
    mirror_puts = {path for method, path, _ in testbed.mirror.requests() if method == "PUT"}
    assert mirror_puts and all(names[1] in path for path in mirror_puts)
    # the mirror keeps the image that is gone upstream
    kept = parse(f"{testbed.mirror.host}/docker.io/library/{names[2]}:1.0")
    assert testbed.client().head_digest(kept) == gone
    # the moved digest is recorded in the issue comment, so the rebuilt index has it
    rebuilt = build_index(forge, testbed.config())
    moved_target = f"{testbed.mirror.host}/docker.io/library/{names[1]}:1.0"
    assert rebuilt.entries[moved_target].digest == moved.index_digest
    assert moved.index_digest in forge.comments_on(2)[0]["body"]


def test_resync_cli_with_shards_merges_into_one_report(testbed: Sandbox, name: str,
                                                       tmp_path: Path) -> None:
    import subprocess
    import sys


    names = [f"{name}-{i}" for i in range(4)]
    for n in names:
        testbed.seed(n)
    forge = LocalForge(tmp_path / "forge", echo=False)
    mirror_and_record(testbed, names, forge)
    reports = []
    for shard in ("0/2", "1/2"):
        output = tmp_path / f"report-{shard.replace('/', '-')}.json"
        completed = subprocess.run(
            [sys.executable, "-m", "bot", "resync", "--shard", shard, "--local-forge",
             str(tmp_path / "forge"), "--output", str(output)], env=testbed.env(),
            capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=300)
        assert completed.returncode == 0, completed.stderr
        reports.append(output)
    merged = merge_reports(json.loads(p.read_text()) for p in reports)
    assert sorted(r["source"] for r in merged["results"]) == sorted(
        f"docker.io/library/{n}:1.0" for n in names)
    assert merged["counts"] == {"unchanged": 4}


@given(st.lists(st.text(min_size=1, max_size=30), max_size=200, unique=True),
       st.integers(min_value=1, max_value=16))
def test_shards_are_disjoint_and_cover_everything(targets: list[str], count: int) -> None:
    index = Index()
    for target in targets:
        index.add(IndexEntry(RecordedImage(target, target, "sha256:x")))
    shards = [{e.target for e in index.shard(i, count)} for i in range(count)]
    assert sum(len(s) for s in shards) == len(targets)
    assert set().union(*shards) == set(targets)
    assert all(shard_of(t, count) == shard_of(t, count) for t in targets)


def test_a_subset_record_over_a_tag_now_mirrored_whole_is_superseded(testbed: Sandbox, name: str,
                                                                      tmp_path: Path) -> None:
    from bot.image.platform import Platform

    testbed.seed(name)
    config = testbed.config()
    source = parse(f"docker.io/library/{name}:1.0")
    target = config.namer.target(source)
    subset = testbed.syncer().sync(SyncItem(source, target, (Platform.parse("linux/arm64"),)))
    assert subset.status == "copied"
    assert testbed.syncer().sync(SyncItem(source, target)).status == "copied"  # whole replaces
    entry = IndexEntry(RecordedImage(str(source), str(target), str(subset.digest), ("linux/arm64",)))
    report = resync([entry], testbed.syncer(), config)
    assert [row["status"] for row in report["results"]] == ["superseded"]
    assert "failed" not in report["counts"]


def test_resync_gives_a_narrowed_tag_its_platforms_back(testbed: Sandbox, name: str,
                                                        tmp_path: Path) -> None:
    """Issue 27 item 3: a subset that won the race against a whole copy (no conditional PUT at
    the mirror) narrowed a tag recorded whole; resync copies it whole again."""
    image = testbed.seed(name)
    forge = LocalForge(tmp_path / "forge", echo=False)
    index = mirror_and_record(testbed, [name], forge)
    tag = parse(f"{testbed.mirror.host}/docker.io/library/{name}:1.0")
    whole = testbed.client().get_manifest(tag)
    assert whole is not None and whole.digest == image.index_digest
    arm64 = [e for e in whole.entries() if e["platform"]["architecture"] == "arm64"]
    testbed.client().put_manifest(tag, subset_index(whole, arm64))
    assert testbed.client().head_digest(tag) != image.index_digest  # narrowed
    report = resync(index.sorted_entries(), testbed.syncer(), testbed.config(), forge=forge)
    assert [row["status"] for row in report["results"]] == ["copied"]
    assert testbed.client().head_digest(tag) == image.index_digest
