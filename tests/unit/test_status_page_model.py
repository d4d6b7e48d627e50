"""The status page's parts without a browser: how long ago, the platforms a record keeps as
served (checked when read), how the index merges them, and what the page says in each language
when a time is ahead of the clock, not a time, or a copy listed no platforms."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import timestamps
from bot.copy.syncer import served_platforms
from bot.flows.index_page import apply_report, write_outputs
from bot.image.oci import Manifest
from bot.records.index import Index, IndexEntry, QueueEntry
from bot.records.record import (
    COMMENT_MARKER,
    MAX_SERVED,
    Phase,
    RecordedImage,
    RecordError,
    ResultRecord,
    read,
)
from bot.timestamps import Elapsed, Unit

CLOCK = datetime.fromisoformat("2026-11-29T12:00:00+00:00")
DIGEST, OTHER = "sha256:" + "ab" * 32, "sha256:" + "cd" * 32
SOURCE, TARGET = "docker.io/library/nginx:1.27", "m.example.io/docker.io/library/nginx:1.27"


@pytest.mark.parametrize(("gone", "expected"), [
    (timedelta(0), Elapsed(Unit.NOW, 0)),
    (timedelta(seconds=59), Elapsed(Unit.NOW, 0)),
    (timedelta(seconds=-59), Elapsed(Unit.NOW, 0)),  # another machine's clock a little ahead
    (timedelta(minutes=1), Elapsed(Unit.MINUTE, 1)),
    (timedelta(minutes=59, seconds=59), Elapsed(Unit.MINUTE, 59)),
    (timedelta(hours=3, minutes=59), Elapsed(Unit.HOUR, 3)),
    (timedelta(hours=24), Elapsed(Unit.DAY, 1)),
    (timedelta(days=29, hours=23), Elapsed(Unit.DAY, 29)),
    (timedelta(days=45), Elapsed(Unit.MONTH, 1)),
    (timedelta(days=364), Elapsed(Unit.MONTH, 12)),
    (timedelta(days=800), Elapsed(Unit.YEAR, 2)),
    (timedelta(minutes=-2), None),  # ahead of the clock: no guess
])
def test_how_long_ago_is_the_largest_whole_unit(gone: timedelta, expected: Elapsed | None) -> None:
    assert timestamps.elapsed(CLOCK - gone, CLOCK) == expected


def test_a_moment_is_machine_readable_exact_and_relative() -> None:
    shown = timestamps.moment("2026-11-29T09:00:00Z", CLOCK)
    assert shown == timestamps.Moment("2026-11-29T09:00:00Z", "2026-11-29 09:00:00 UTC",
                                      Elapsed(Unit.HOUR, 3))
    for text in ("", "yesterday", "2026-11-29 09:00:00", None):
        assert timestamps.moment(text, CLOCK) is None


# -- the platforms a record keeps as served --------------------------------------------------

def record_line(image: dict[str, object]) -> str:
    data = {"issue": 7, "phase": "result", "outcome": "mirrored", "at": "2026-11-29T11:00:00Z",
            "images": [{"source": SOURCE, "target": TARGET, "digest": DIGEST, **image}]}
    return f"{COMMENT_MARKER}\ntext\n<!-- mirror-bot:result {json.dumps(data)} -->"


def test_served_platforms_round_trip_through_the_record() -> None:
    image = RecordedImage(SOURCE, TARGET, DIGEST, served=("linux/amd64", "linux/arm/v7"))
    record = ResultRecord(7, Phase.RESULT, "2026-11-29T11:00:00Z", images=(image,))
    again = read(f"{COMMENT_MARKER}\n{record.render()}")
    assert again is not None and again.images == (image,)
    assert "served" not in RecordedImage(SOURCE, TARGET, DIGEST).to_json()  # older records: none


@pytest.mark.parametrize("served", [
    "linux/amd64",  # not a list
    ["aarch64"],  # not written as Platform.parse writes it
    ["linux/arm64/v8"],
    ["linux/amd64", "linux/amd64"],
    ["unknown/unknown"],
    [7],
    ["linux/arm/v" + "9" * 40],
    [f"linux/arm/v{n}" for n in range(MAX_SERVED + 1)],
])
def test_a_record_with_bad_served_platforms_is_refused_when_read(served: object) -> None:
    with pytest.raises(RecordError, match="served"):
        read(record_line({"served": served}))


def test_platforms_a_reader_would_refuse_are_not_written() -> None:
    many = tuple(f"linux/arm/v{n}" for n in range(MAX_SERVED + 1))  # a hostile upstream index
    for served in (many, ("linux/amd64", "linux/amd64")):
        assert "served" not in RecordedImage(SOURCE, TARGET, DIGEST, served=served).to_json()


def test_served_platforms_are_kept_only_for_the_same_digest_at_the_same_address() -> None:
    seen = RecordedImage(SOURCE, TARGET, DIGEST, served=("linux/amd64",))
    current = RecordedImage(SOURCE, TARGET, DIGEST)  # already current: the copy saw nothing
    assert current.keeping_served(seen).served == ("linux/amd64",)
    assert RecordedImage(SOURCE, TARGET, OTHER).keeping_served(seen).served == ()
    assert RecordedImage(SOURCE, TARGET + "x", DIGEST).keeping_served(seen).served == ()
    fresh = RecordedImage(SOURCE, TARGET, DIGEST, served=("linux/s390x",))
    assert fresh.keeping_served(seen) is fresh
    assert current.keeping_served(None) is current


def test_the_syncer_records_an_index_s_platforms_once_each_and_no_attestation() -> None:
    entries = [{"platform": {"os": "linux", "architecture": "amd64"}},
               {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
               {"platform": {"os": "linux", "architecture": "arm"}},  # arm is arm/v7
               {"platform": {"os": "unknown", "architecture": "unknown"}},  # an attestation
               {"platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.1"}},
               {"platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.2"}},
               {"digest": "sha256:" + "00" * 32}]
    body = json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries}).encode()
    assert [str(p) for p in served_platforms(Manifest.from_bytes(body))] == [
        "linux/amd64", "linux/arm64", "linux/arm/v7", "windows/amd64"]
    single = json.dumps({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "layers": []}).encode()
    assert served_platforms(Manifest.from_bytes(single)) == ()


# -- the index ---------------------------------------------------------------------------------

def entry(at: str, digest: str = DIGEST, served: tuple[str, ...] = (), issue: int = 1) -> IndexEntry:
    return IndexEntry(RecordedImage(SOURCE, TARGET, digest, (), at, served=served),
                      last_sync=at, issue=issue)


@pytest.mark.parametrize("newest_first", [True, False])
def test_the_index_takes_the_newest_record_with_the_earliest_first_sync_and_what_was_seen(
        newest_first: bool) -> None:
    older = entry("2026-11-01T00:00:00Z", served=("linux/amd64", "linux/arm64"), issue=1)
    newer = entry("2026-11-20T00:00:00Z", issue=2)  # already current when asked for
    index = Index()
    for item in (newer, older) if newest_first else (older, newer):
        index.add(item)
    kept = index.entries[TARGET]
    assert (kept.issue, kept.first_sync, kept.shown_platforms) == (
        2, "2026-11-01T00:00:00Z", ("linux/amd64", "linux/arm64"))


def test_the_index_never_lends_platforms_to_another_digest() -> None:
    index = Index()
    index.add(entry("2026-11-01T00:00:00Z", served=("linux/amd64",)))
    index.add(entry("2026-11-20T00:00:00Z", digest=OTHER))
    assert index.entries[TARGET].shown_platforms == ()


def test_a_subset_asked_for_is_shown_when_the_copy_listed_nothing() -> None:
    image = RecordedImage(SOURCE, TARGET, DIGEST, platforms=("linux/arm64",))
    assert IndexEntry(image).shown_platforms == ("linux/arm64",)


def test_a_resync_report_that_moves_the_digest_drops_the_platforms_of_the_old_one() -> None:
    for digest, shown in ((DIGEST, ("linux/amd64",)), (OTHER, ())):
        index = Index()
        index.add(entry("2026-11-01T00:00:00Z", served=("linux/amd64",)))
        apply_report(index, {"started_at": "2026-11-29T11:00:00Z",
                             "finished_at": "2026-11-29T11:05:00Z", "counts": {},
                             "results": [{"target": TARGET, "status": "copied", "digest": digest}]})
        assert index.entries[TARGET].shown_platforms == shown


# -- what the page says ----------------------------------------------------------------------

def page(index: Index, tmp_path: Path, language: str = "en") -> str:
    write_outputs(index, None, tmp_path / language, language=language, clock=CLOCK)
    return (tmp_path / language / "index.html").read_text(encoding="utf-8")


def test_the_page_tells_times_in_each_language_and_keeps_odd_ones_exact(tmp_path: Path) -> None:
    index = Index(generated_at="2026-11-29T12:00:00Z")
    index.add(entry("2026-11-29T11:00:00Z", served=("linux/amd64",)))
    index.queue += [QueueEntry(3, "nginx:1", "", "pending", "2026-11-29T13:00:00Z"),  # ahead
                    QueueEntry(4, "redis:7", "", "pending", "<b>soon</b>")]  # not a time
    english, chinese = page(index, tmp_path), page(index, tmp_path, "zh-CN")
    assert ('<time datetime="2026-11-29T11:00:00Z" title="2026-11-29 11:00:00 UTC">'
            "1 hour ago</time>") in english
    assert ">1 小时前</time>" in chinese and ">刚刚</time>" in chinese
    for html in (english, chinese):
        assert ('<time datetime="2026-11-29T13:00:00Z" title="2026-11-29 13:00:00 UTC">'
                "2026-11-29 13:00:00 UTC</time>") in html
        assert "<td>&lt;b&gt;soon&lt;/b&gt;</td>" in html
    # the page's script counts with the page's own words and the same unit lengths
    assert 'data-unit="hour" data-seconds="3600" data-one="1 hour ago" data-other="{n} hours ago"' \
        in english
    assert 'data-one="1 小时前" data-other="{n} 小时前"' in chinese
    assert 'data-now="刚刚" data-skew="60"' in chinese


def test_a_copy_that_listed_no_platforms_says_so(tmp_path: Path) -> None:
    index = Index(generated_at="2026-11-29T12:00:00Z")
    index.add(entry("2026-11-29T11:00:00Z"))
    assert ('<span title="copied whole; its record does not list the platforms">all</span>'
            in page(index, tmp_path))
    assert '<span title="整体复制；记录中未列出平台">全部</span>' in page(index, tmp_path, "zh-CN")


def test_resync_counts_are_said_in_the_page_s_language(tmp_path: Path) -> None:
    index = Index(generated_at="2026-11-29T12:00:00Z", last_resync={
        "started_at": "2026-11-29T11:00:00Z", "finished_at": "2026-11-29T11:05:00Z",
        "counts": {"copied": 1, "gone_upstream": 2, "unchanged": 4, "odd": 1}})
    assert "1 copied, 2 gone upstream, 1 odd, 4 unchanged." in page(index, tmp_path)
    assert "复制 1 个, 上游已删除 2 个, 1 odd, 未变 4 个." in page(index, tmp_path, "zh-CN")
