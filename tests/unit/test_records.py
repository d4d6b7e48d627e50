"""The bot's records: strict reading, exact round trips, and markers user text cannot forge."""

from __future__ import annotations

import json

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
