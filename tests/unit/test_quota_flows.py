"""What the flows make of an image the source's pull quota deferred: the record (outcome
`deferred`, `resume_after`, `attempts` unchanged, each image's index `entries`), the labels and
state, the sweep's decision, the comment (in both languages) and `follow --json`'s list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.copy.model import SyncResult
from bot.errors import ErrorKind, TransferError
from bot.flows.comment_body import CommentWriter
from bot.flows.conclude import issue_update, outcome_of, result_record
from bot.flows.follow import Deferral, Following
from bot.flows.outcomes import Unsynced
from bot.flows.plan import plan_issue
from bot.flows.sweep import SweepAction, SweepPolicy, decide
from bot.forge.protocol import IssueSnapshot
from bot.image.reference import Reference, TagPattern, parse
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.policy.subscriptions import Subscription
from bot.policy.tags import TagRules
from bot.records.labels import Labels
from bot.records.record import Outcome, Phase, RecordedImage, RecordError, ResultRecord, read
from bot.registry.quota import QuotaShort, Told
from bot.request.address import DEFAULT_MIRROR_PREFIXES
from tests.unit.test_i18n import english_left

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
AT = "2026-11-29T12:00:00Z"
RESUME = "2026-11-29T12:40:00Z"
DIGEST = "sha256:" + "ab" * 32
SOURCE = parse("docker.io/library/nginx:1.27")
TARGET = Reference("m.example.io", "docker.io/library/nginx", "1.27")
LABELS = Labels()


def deferred(resume: str = RESUME) -> SyncResult:
    short = QuotaShort("docker.io", 3, 11, 2376.0, Told(100, 3, 21600, "192.0.2.1"))
    return SyncResult(SOURCE, TARGET, "deferred", error=short, resume_after=resume)


def issue(labels: tuple[str, ...] = ("sync image",)) -> IssueSnapshot:
    return IssueSnapshot(7, "nginx:1.27", "", "alice", False, labels, "open", False, 1,
                         created_at="2026-11-29T10:00:00Z")


# -- the record ---------------------------------------------------------------------------------

def test_a_deferred_record_carries_its_resume_time_and_each_images_entries() -> None:
    image = RecordedImage("docker.io/library/nginx:1.26", "m.example.io/docker.io/library/nginx:1.26",
                          DIGEST, entries=14)
    record = ResultRecord(7, Phase.RESULT, AT, Outcome.DEFERRED, attempts=2, images=(image,),
                          resume_after=RESUME)
    line = record.render()
    assert '"outcome":"deferred"' in line and f'"resume_after":"{RESUME}"' in line
    assert '"entries":14' in line
    assert read(f"<!-- mirror-bot:comment -->\nwaiting\n{line}") == record
    # Neither is written when there is nothing to say.
    plain = ResultRecord(7, Phase.RESULT, AT, Outcome.MIRRORED,
                         images=(RecordedImage("a", "b", DIGEST),)).render()
    assert "resume_after" not in plain and "entries" not in plain


@pytest.mark.parametrize(("field", "value"), [
    ("resume_after", "soon"), ("resume_after", 1767225600), ("resume_after", None),
])
def test_a_record_with_a_resume_time_that_is_none_is_refused(field: str, value: object) -> None:
    data = {"issue": 7, "phase": "result", "at": AT, "outcome": "deferred", field: value}
    with pytest.raises(RecordError, match="resume_after"):
        ResultRecord.from_json(data)


@pytest.mark.parametrize("entries", [-1, 1001, "3", True, 2.5])
def test_an_image_whose_entries_are_not_a_count_is_refused(entries: object) -> None:
    data = {"source": "a", "target": "b", "digest": DIGEST, "entries": entries}
    with pytest.raises(RecordError, match="entries"):
        RecordedImage.from_json(data)


def test_an_image_already_current_keeps_the_entries_an_earlier_copy_saw() -> None:
    before = RecordedImage("a", "b", "sha256:" + "cd" * 32, served=("linux/amd64",), entries=6)
    now = RecordedImage("a", "b", DIGEST).keeping_served(before)
    assert (now.entries, now.served) == (6, ())  # another digest: its platforms are no word
    assert RecordedImage("a", "b", DIGEST, entries=2).keeping_served(before).entries == 2
    assert RecordedImage("a", "c", DIGEST).keeping_served(before).entries is None


# -- the conclusion -----------------------------------------------------------------------------

def test_deferred_is_the_outcome_unless_something_failed_and_waiting_counts_no_attempt() -> None:
    plan = plan_issue("nginx:1.27", "", parse_allowlist("allow:\n  - docker.io/library/*\n")[0],
                      Namer("m.example.io"), DEFAULT_MIRROR_PREFIXES)
    copied = SyncResult(SOURCE, TARGET.with_tag("1.26"), "copied", DIGEST, entries=4)
    failing = SyncResult(SOURCE, TARGET, "failed",
                         error=TransferError(ErrorKind.NETWORK, "connection reset"))
    assert outcome_of(plan, [copied, deferred()]) == Outcome.DEFERRED
    assert outcome_of(plan, [failing, deferred()]) == Outcome.FAILED
    assert not deferred().transient
    previous = ResultRecord(7, Phase.RESULT, AT, Outcome.FAILED, attempts=4)
    later = "2026-11-29T13:10:00Z"
    record = result_record(7, Outcome.DEFERRED, AT, [copied, deferred(), deferred(later)],
                           previous)
    assert (record.attempts, record.resume_after) == (4, later)  # the latest time given
    assert [(i.target, i.entries) for i in record.images] == [(str(copied.target), 4)]
    assert result_record(7, Outcome.MIRRORED, AT, [copied], record).resume_after == ""


def test_a_deferred_request_stays_open_without_a_failure_label() -> None:
    update = issue_update(Outcome.DEFERRED, LABELS, ["sync image", "sync image failure", "kept"],
                          "open")
    assert (update.labels, update.state) == (["sync image", "kept"], None)
    reopened = issue_update(Outcome.DEFERRED, LABELS, ["sync image"], "closed")
    assert (reopened.state, reopened.state_reason) == ("open", None)


def test_the_sweep_takes_a_deferred_request_up_when_it_resumes() -> None:
    record = ResultRecord(7, Phase.RESULT, AT, Outcome.DEFERRED, attempts=5, resume_after=RESUME)
    policy = SweepPolicy(max_attempts=5)
    waiting = decide(issue(), record, LABELS, policy, NOW + timedelta(minutes=39))
    assert waiting.action == SweepAction.WAIT and "12:40Z" in waiting.reason
    # Five earlier failures do not give it up: waiting is not failing.
    assert decide(issue(), record, LABELS, policy, NOW + timedelta(minutes=40)).action \
        == SweepAction.PROCESS
    # A resume time beyond any quota window holds nothing.
    far = ResultRecord(7, Phase.RESULT, AT, Outcome.DEFERRED, resume_after="2027-01-01T00:00:00Z")
    assert decide(issue(), far, LABELS, policy, NOW).action == SweepAction.PROCESS


def test_a_pattern_whose_listing_the_quota_refused_is_deferred() -> None:
    pattern = TagPattern("docker.io", "library/nginx", "1.27.*")
    error = TransferError(ErrorKind.RATE_LIMITED, "tags of docker.io/library/nginx: too many "
                          "requests", retry_after=600)
    unlisted = Unsynced.unlisted(pattern, error, NOW)
    assert (unlisted.status, unlisted.resume_after) == ("deferred", "2026-11-29T12:10:00Z")
    assert unlisted.to_json()["pulls"] == 0 and not unlisted.transient
    other = Unsynced.unlisted(pattern, TransferError(ErrorKind.NETWORK, "reset"), NOW)
    assert (other.status, other.resume_after) == ("failed", None)


# -- the comment --------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_comment_says_it_waits_for_the_quota_and_when_it_resumes(language: str) -> None:
    allowlist = parse_allowlist("allow:\n  - docker.io/library/*\n")[0]
    plan = plan_issue("nginx:1.27", "", allowlist, Namer("m.example.io"), DEFAULT_MIRROR_PREFIXES)
    record = ResultRecord(7, Phase.RESULT, AT, Outcome.DEFERRED, resume_after=RESUME)
    body = CommentWriter(None, "allowlist.yaml", language=language).result(
        plan, Outcome.DEFERRED, [deferred()], record)
    assert body.count(f"`{RESUME}`") == 2  # the image's line and the paragraph
    assert "`docker.io`" in body and " 11 " in body  # what is left and needed, in numbers
    assert body.rstrip().endswith(record.render())
    if language == "en":
        assert "### ⏳ Waiting for the registry's pull quota" in body
        assert "resumes by itself after" in body and "retried" not in body
    else:
        assert "等待源仓库的拉取配额" in body
        assert english_left(body) == [], body


# -- follow --json ------------------------------------------------------------------------------

def test_follow_lists_a_tag_the_quota_deferred_as_deferred_and_not_as_synced() -> None:
    subscription = Subscription("docker.io", "library/nginx", TagRules())
    following = Following(subscription, to_sync=["1.27", "1.26"], over_budget=["1.25"])
    following.results = [SyncResult(SOURCE, TARGET, "copied", DIGEST),
                         SyncResult(parse("docker.io/library/nginx:1.26"), TARGET, "deferred",
                                    error=TransferError(ErrorKind.RATE_LIMITED, "429"),
                                    resume_after=RESUME)]
    data = following.to_json()
    assert [s["tag"] for s in data["synced"]] == ["1.27"]
    assert data["deferred"] == [
        {"tag": "1.25", "reason": "max_new_tags_per_follow", "resume_after": None},
        {"tag": "1.26", "reason": "rate_limited", "resume_after": RESUME}]
    assert following.deferred[1] == Deferral("1.26", "rate_limited", RESUME)
    assert not following.failed
