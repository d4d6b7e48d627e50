"""One conclusion for every outcome: which outcome a run reached, and what the issue becomes.

Rule: the outcome follows from the plan and the results alone: any transient failure -> failed
(the issue stays open for the sweep); else anything the source's pull quota deferred -> deferred
(open, no failure label, its attempts not counted up: waiting is not failing; the record says
when it resumes, the latest time any of its images gave); else anything mirrored -> mirrored;
else anything denied and nothing failed -> denied; else invalid. The labels and state of every
outcome — the per-user cap's refusal and the sweep's giving up included — come from one table,
and only the bot's own outcome labels are replaced (a maintainer's labels stay). The record
written with the outcome keeps each image's first sync time across runs. A request whose record
could pass the record's bound (bot/records/record.py's `longest`) is refused before it copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.copy.model import SERVING, SyncResult
from bot.flows.outcomes import ImageOutcome
from bot.flows.plan import Plan
from bot.records import record as records
from bot.records.labels import Labels
from bot.records.record import Outcome, Phase, RecordedImage, ResultRecord


class RunStatus(StrEnum):
    """How one run ended: an outcome it recorded, or why it recorded nothing."""

    MIRRORED = "mirrored"
    DENIED = "denied"
    INVALID = "invalid"
    FAILED = "failed"
    GAVE_UP = "gave_up"
    DEFERRED = "deferred"  # the source's pull quota: the sweep takes it up when it resumes
    IGNORED = "ignored"  # the event needs no action
    SUPERSEDED = "superseded"  # another run holds the issue
    KEPT = "kept"  # a mirrored request whose title now names something else: the record stays


@dataclass(frozen=True)
class RunOutcome:
    name: RunStatus
    exit_code: int
    results: tuple[ImageOutcome, ...] = ()


@dataclass(frozen=True)
class IssueUpdate:
    labels: list[str]
    state: str | None  # None: leave the state as it is
    state_reason: str | None


def outcome_of(plan: Plan, results: Sequence[ImageOutcome]) -> Outcome:
    """The outcome of a run from what was planned and what the syncs returned (pure)."""
    failed = [r for r in results if r.status == "failed"]
    if any(r.transient for r in failed):
        return Outcome.FAILED
    if any(r.status == "deferred" for r in results):
        return Outcome.DEFERRED
    if any(r.status in SERVING for r in results):
        return Outcome.MIRRORED
    if any(image.decision == "denied" for image in plan.images) and not failed:
        return Outcome.DENIED
    return Outcome.INVALID


def issue_update(outcome: Outcome, labels: Labels, current_labels: Sequence[str],
                 current_state: str) -> IssueUpdate:
    """Labels and state for `outcome`: the one table for every path that concludes."""
    new_label, state, reason = {
        Outcome.MIRRORED: (labels.succeeded, "closed", "completed"),
        Outcome.FAILED: (labels.failure, "open", None),
        Outcome.DEFERRED: (None, "open", None),
        Outcome.DENIED: (labels.denied, "closed", "not_planned"),
        Outcome.INVALID: (labels.invalid, "closed", "not_planned"),
        Outcome.GAVE_UP: (labels.failure, "closed", "not_planned"),
    }[outcome]
    ours = {labels.succeeded, labels.failure, labels.denied, labels.invalid}
    kept = [label for label in current_labels if label not in ours]
    return IssueUpdate([*kept, *([new_label] if new_label else [])],
                       None if state == current_state else state, reason)


def result_record(issue: int, outcome: Outcome, at: str, results: Sequence[ImageOutcome],
                  previous: ResultRecord | None, *, attempts: int | None = None) -> ResultRecord:
    """The record of a finished run; attempts count consecutive failures unless given (a
    deferred run leaves them as they were)."""
    before = {image.target: image for image in previous.images} if previous else {}
    first_syncs = {target: image.first_sync for target, image in before.items()}
    if attempts is None:
        counted = previous.attempts if previous else 0
        attempts = {Outcome.FAILED: counted + 1, Outcome.DEFERRED: counted}.get(outcome, 0)
    resumes = [r.resume_after for r in results if r.status == "deferred" and r.resume_after]
    images = tuple(
        RecordedImage(source=str(r.source), target=str(r.target), digest=str(r.digest),
                      platforms=tuple(str(p) for p in r.platforms),
                      first_sync=first_syncs.get(str(r.target)) or at,
                      also=tuple(str(a) for a in r.addresses[1:]),
                      served=tuple(str(p) for p in r.served),
                      entries=r.entries, referrers=r.referrer_set,
                      referrers_incomplete=r.referrers_incomplete,
                      signed=bool(r.signed)).keeping_served(before.get(str(r.target)))
        for r in results if isinstance(r, SyncResult) and r.status in SERVING
        and r.digest)
    return ResultRecord(issue=issue, phase=Phase.RESULT, outcome=outcome, at=at,
                        attempts=attempts, images=images,
                        resume_after=max(resumes) if outcome == Outcome.DEFERRED and resumes
                        else "")


def syncing_record(issue: int, at: str, run: str, previous: ResultRecord | None) -> ResultRecord:
    """The record while a run copies: it keeps what the previous result recorded."""
    return ResultRecord(issue=issue, phase=Phase.SYNCING, at=at, run=run,
                        attempts=previous.attempts if previous else 0,
                        outcome=previous.outcome if previous else None,
                        images=previous.images if previous else ())


def longest_record(plan: Plan) -> int:
    """The longest the record of `plan` can render to once its images are copied (each allowed
    image becomes one recorded image, as `result_record` writes it)."""
    return records.longest([
        RecordedImage(source=str(image.source), target=str(image.target), digest="",
                      platforms=tuple(str(p) for p in image.platforms),
                      also=tuple(str(a) for a in image.also))
        for image in plan.allowed if image.source and image.target])
