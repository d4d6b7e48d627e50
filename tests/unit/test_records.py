"""The bot's records: strict reading, exact round trips, and markers user text cannot forge."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.records import record as records
from bot.records.record import COMMENT_MARKER, Outcome, Phase, RecordedImage, RecordError, ResultRecord

DIGEST = "sha256:" + "ab" * 32
IMAGE = RecordedImage("docker.io/library/nginx:1.27", "m.example.io/docker.io/library/nginx:1.27",
                      DIGEST, ("linux/arm64",), "2026-11-01T00:00:00Z")
RECORD = ResultRecord(7, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED, 0, "",
                      (IMAGE,))


def comment(*lines: str) -> str:
    return "\n".join([COMMENT_MARKER, "some text", *lines]) + "\n"


def marker(data: object) -> str:
    return f"<!-- mirror-bot:result {json.dumps(data)} -->"


def test_a_record_round_trips_exactly() -> None:
    assert records.read(comment(RECORD.render())) == RECORD


def test_a_comment_without_a_record_has_none() -> None:
    assert records.read(comment("no marker here")) is None


def test_the_record_must_be_the_last_line() -> None:
    body = comment(RECORD.render(), "text after the record")
    assert records.read(body) is None


def test_a_comment_that_does_not_start_with_the_comment_marker_is_refused() -> None:
    with pytest.raises(RecordError, match="comment marker"):
        records.read("hello\n" + RECORD.render())


@pytest.mark.parametrize(("data", "message"), [
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z", "images": "x"}, "images"),
    ({"issue": "1", "phase": "result", "at": "2026-11-29T12:00:00Z"}, "issue"),
    ({"issue": True, "phase": "result", "at": "2026-11-29T12:00:00Z"}, "issue"),
    ({"issue": 1, "phase": "done", "at": "2026-11-29T12:00:00Z"}, "phase"),
    ({"issue": 1, "phase": "result", "at": "yesterday"}, "timestamp"),
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z", "outcome": "won"}, "outcome"),
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z", "attempts": 99999}, "attempts"),
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z", "extra": 1}, "unknown"),
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z",
      "images": [{"source": "a", "target": "b", "digest": "sha256:1"}]}, "digest"),
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z",
      "images": [{"source": 1, "target": "b", "digest": DIGEST}]}, "source"),
    ({"issue": 1, "phase": "result", "at": "2026-11-29T12:00:00Z",
      "images": [{"source": "a", "target": "b", "digest": DIGEST, "platforms": "all"}]},
     "platforms"),
    ([1, 2], "object"),
])
def test_malformed_records_are_refused_with_the_reason(data: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        records.read(comment(marker(data)))


def test_a_marker_that_is_not_json_is_refused() -> None:
    with pytest.raises(RecordError, match="not JSON"):
        records.read(comment("<!-- mirror-bot:result {nope -->"))


def test_read_or_none_never_raises_for_malformed_records() -> None:
    assert records.read_or_none(comment(marker({"issue": "x"}))) is None


@given(st.text(max_size=300))
def test_no_value_can_close_the_marker_early(text: str) -> None:
    record = ResultRecord(1, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED, 0, "",
                          (RecordedImage(text or "x", text or "y", DIGEST),))
    line = record.render()
    assert line.count("-->") == 1 and line.endswith(" -->") and "\n" not in line
    assert records.read(comment(line)) == record


def test_replace_record_swaps_only_the_last_line() -> None:
    body = comment(RECORD.render())
    moved = RECORD.with_images((IMAGE,), "2026-11-30T00:00:00Z")
    replaced = records.replace_record(body, moved)
    assert replaced.startswith(COMMENT_MARKER + "\nsome text\n")
    assert records.read(replaced) == moved


# -- the record's bound (issue 27 item 2) -------------------------------------------------------

FOUR = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le")


def many(count: int, *, served: tuple[str, ...] = FOUR, also: int = 2,
         name: str = "library/nginx") -> tuple[RecordedImage, ...]:
    return tuple(RecordedImage(
        f"docker.io/{name}:1.{n}", f"m.example.io/docker.io/{name}:1.{n}", DIGEST, (),
        "2026-11-01T00:00:00Z",
        tuple(f"mirror{k}.example.io/docker.io/{name}:1.{n}" for k in range(also)), served,
        entries=len(served) * 2) for n in range(count))


def test_a_hundred_images_with_four_platforms_and_two_addresses_fit_and_round_trip() -> None:
    record = ResultRecord(7, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED,
                          images=many(100))
    line = record.render()
    assert 30_000 < len(line) <= records.MAX_RECORD_LENGTH
    assert records.read(comment(line)) == record
    # what was planned is bounded before the copy by at least what was written after it
    assert records.longest(many(100, served=())) >= len(line) - sum(
        len(json.dumps(list(FOUR))) + len(',"served":') for _ in range(100))


def test_a_record_that_would_pass_the_bound_leaves_out_what_its_last_images_serve() -> None:
    combos = (f"{os}/{arch}" for os in ("linux", "windows", "freebsd", "darwin", "netbsd")
              for arch in ("amd64", "arm64", "386", "ppc64le", "s390x", "riscv64", "mips64le"))
    served = tuple(p for p in combos if records.servable([p]))[:32]  # 32 platforms each
    assert len(served) == 32 and records.servable(served)
    record = ResultRecord(7, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED,
                          images=many(100, served=served))
    assert len(record._line()) > records.MAX_RECORD_LENGTH
    line = record.render()
    assert len(line) <= records.MAX_RECORD_LENGTH
    read = records.read(comment(line))
    assert read is not None and len(read.images) == 100
    assert read.images[0].served == served and read.images[-1].served == ()
    kept = [image.served for image in read.images]
    assert kept == sorted(kept, key=lambda s: not s)  # the first images keep theirs


def test_a_record_too_long_even_without_what_images_serve_is_never_written() -> None:
    long_name = "team/" + "x" * 200
    images = many(100, served=(), also=2, name=long_name)
    assert records.longest(images) > records.MAX_RECORD_LENGTH
    record = ResultRecord(7, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED,
                          images=images)
    with pytest.raises(records.RecordTooLong):
        record.render()


def test_longest_counts_every_field_at_its_longest() -> None:
    [image] = many(1, served=())
    deferred = ResultRecord(123456789, Phase.SYNCING, "2026-11-29T12:00:00Z", Outcome.DEFERRED,
                            attempts=999, run="r" * 64, images=(image,),
                            resume_after="2026-11-29T13:00:00Z").render()
    assert records.longest([image]) >= len(deferred)
    # the referrers' fields (issue 26) count too: one digest of the set, and two flags
    images = many(3, served=())
    signed = tuple(replace(i, referrers=DIGEST, referrers_incomplete=True, signed=True)
                   for i in images)
    with_referrers = ResultRecord(1, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED,
                                  images=signed).render()
    assert records.longest(images) >= len(with_referrers)
