"""The bot's comment stays under GitHub's 65,536 characters whatever a request holds (issue 27
item 2): rows past a number are summarised with a pointer to the job summary, each image shows a
few notes, and the shortest form is one line, the job summary's link and the record."""

from __future__ import annotations

from bot.copy.model import SyncResult
from bot.errors import ErrorKind, TransferError
from bot.flows.comment_body import COMMENT_LIMIT, NOTES_SHOWN, CommentWriter
from bot.flows.conclude import result_record
from bot.flows.plan import Plan, PlannedImage
from bot.image.reference import parse
from bot.messages import message
from bot.records import record as records
from bot.records.record import COMMENT_MARKER, Outcome, Phase, RecordedImage, ResultRecord

RUN = "https://github.com/o/r/actions/runs/42"
DIGEST = "sha256:" + "ab" * 32
WRITER = CommentWriter(run_url=RUN, allowlist_url="allowlist.yaml")


def planned(n: int, notes: int = 0) -> PlannedImage:
    source = parse(f"docker.io/library/nginx:1.{n}")
    target = parse(f"m.example.io/docker.io/library/nginx:1.{n}")
    return PlannedImage(f"nginx:1.{n}", source, target, (), "allowed", message("allowed"),
                        notes=tuple(message("note %(n)s: %(text)s", n=k, text="x" * 400)
                                    for k in range(notes)))


def copied(image: PlannedImage) -> SyncResult:
    return SyncResult(image.source, image.target, "copied", DIGEST)  # type: ignore[arg-type]


def failed(n: int) -> SyncResult:
    return SyncResult(parse(f"docker.io/library/redis:7.{n}"), None, "failed", error=TransferError(
        ErrorKind.SERVER_ERROR, "the registry said: " + "y" * 480))


def test_a_hundred_mirrored_and_a_hundred_failed_images_fit_one_comment() -> None:
    images = [planned(n, notes=6) for n in range(100)]
    results = [*map(copied, images), *map(failed, range(100))]
    record = result_record(7, Outcome.FAILED, "2026-11-29T12:00:00Z", results, None)
    body = WRITER.result(Plan(tuple(images)), Outcome.FAILED, results, record)
    assert len(body) <= COMMENT_LIMIT
    assert f"more not listed here; the run's [job summary]({RUN}) lists every image" in body
    assert "docker pull m.example.io/docker.io/library/nginx:1.0" in body  # the first in full
    assert records.read(body) == record


def test_each_image_shows_a_few_notes_at_most() -> None:
    image = planned(1, notes=8)
    body = WRITER.result(Plan((image,)), Outcome.MIRRORED, [copied(image)],
                         result_record(7, Outcome.MIRRORED, "2026-11-29T12:00:00Z",
                                       [copied(image)], None))
    assert [f"note {k}:" in body for k in range(8)] == [k < NOTES_SHOWN for k in range(8)]


def test_the_syncing_comment_lists_a_number_of_images_and_counts_the_rest() -> None:
    images = tuple(planned(n, notes=2) for n in range(100))
    record = ResultRecord(7, Phase.SYNCING, "2026-11-29T12:00:00Z", run="r")
    body = WRITER.syncing(Plan(images), record)
    assert len(body) <= COMMENT_LIMIT and records.read(body) == record


def test_the_brief_comment_is_one_line_a_link_and_the_record() -> None:
    images = tuple(RecordedImage(
        f"docker.io/team/{'x' * 70}:{n}", f"m.example.io/docker.io/team/{'x' * 70}:{n}",
        DIGEST, (), "2026-11-01T00:00:00Z", (f"m2.example.io/docker.io/team/{'x' * 70}:{n}",))
        for n in range(100))
    record = ResultRecord(7, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED,
                          images=images)
    assert len(record.render()) > 40_000
    body = WRITER.brief(record)
    first, line, record_line = body.rstrip("\n").split("\n")
    assert first == COMMENT_MARKER
    assert line.startswith("✅ Mirrored — the full result is too long for a comment")
    assert f"]({RUN})" in line
    assert record_line == record.render() and len(body) < COMMENT_LIMIT
