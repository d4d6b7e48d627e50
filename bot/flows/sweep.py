"""`mirror-bot sweep`: finish what no run finished, and retry failures with backoff.

Rule: an open request issue is picked up when (a) it has no terminal label and no run is working
on it (no bot comment after a grace period, or a "syncing" comment older than a job can live),
or (b) it is labelled as failed and its backoff (doubling per attempt) has passed; after
`max_attempts` failures it is closed with an explanation; or (c) the source's pull quota
deferred it and the time its record says it resumes has come (a deferral is no failed attempt,
and a time further ahead than `max_deferral` counts as come: no record holds an issue forever).
Oldest first, within a count and time budget. The bot comment is always looked up first, so the
sweep never adds a second one. Only the bot's own record decides (the forge returns only
comments the bot wrote, and the record is read strictly); a record that cannot be read counts as
no record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot import timestamps
from bot.flows.conclude import RunOutcome
from bot.flows.request_handler import RequestHandler
from bot.forge.protocol import Forge, ForgeError, IssueSnapshot
from bot.records import record as records
from bot.records.labels import Labels
from bot.records.record import Outcome, Phase, ResultRecord


@dataclass(frozen=True)
class SweepPolicy:
    max_issues: int = 20
    time_budget: float = 1800.0
    max_attempts: int = 5
    base_backoff: timedelta = timedelta(minutes=30)
    idle_grace: timedelta = timedelta(minutes=10)
    live_run_grace: timedelta = timedelta(minutes=70)  # the sync job's timeout, plus a margin
    clock_skew: timedelta = timedelta(minutes=5)
    max_deferral: timedelta = timedelta(hours=24)  # Docker Hub's window is 6 hours


class SweepAction(StrEnum):
    PROCESS = "process"
    WAIT = "wait"
    GIVE_UP = "give_up"
    SKIP = "skip"


@dataclass(frozen=True)
class SweepDecision:
    issue: int
    action: SweepAction
    reason: str


def decide(issue: IssueSnapshot, record: ResultRecord | None, labels: Labels,
           policy: SweepPolicy, now: datetime) -> SweepDecision:
    """What the sweep should do with one open request issue (pure, given the bot's record)."""
    if labels.terminal & set(issue.labels):
        return SweepDecision(issue.number, SweepAction.SKIP, "already finished")
    if record is None:
        created = timestamps.parse(issue.created_at) or now
        if now - created < policy.idle_grace:
            return SweepDecision(issue.number, SweepAction.WAIT, "new; its own run may still start")
        return SweepDecision(issue.number, SweepAction.PROCESS, "no run finished it")
    # A time beyond any clock skew counts as long ago: no record can hold an issue forever.
    parsed = timestamps.parse(record.at)
    at = parsed if parsed and parsed <= now + policy.clock_skew else datetime.min.replace(tzinfo=UTC)
    if record.phase == Phase.SYNCING:
        if now - at < policy.live_run_grace:
            return SweepDecision(issue.number, SweepAction.WAIT, "a run is syncing it")
        return SweepDecision(issue.number, SweepAction.PROCESS, "its run died while syncing")
    attempts = record.attempts
    if record.outcome == Outcome.DEFERRED and labels.failure not in issue.labels:
        resume = timestamps.parse(record.resume_after)
        if resume is not None and now < resume <= at + policy.max_deferral:
            return SweepDecision(issue.number, SweepAction.WAIT,
                                 f"waits for the registry's pull quota until {resume:%H:%M}Z")
        return SweepDecision(issue.number, SweepAction.PROCESS, "the registry's quota is back")
    if labels.failure in issue.labels or record.outcome == Outcome.FAILED:
        if attempts >= policy.max_attempts:
            return SweepDecision(issue.number, SweepAction.GIVE_UP, f"{attempts} failed attempts")
        due = at + policy.base_backoff * 2 ** max(0, attempts - 1)
        if now < due:
            return SweepDecision(issue.number, SweepAction.WAIT,
                                 f"attempt {attempts + 1} is due at {due:%H:%M}Z")
        return SweepDecision(issue.number, SweepAction.PROCESS, f"retry {attempts + 1}")
    return SweepDecision(issue.number, SweepAction.PROCESS, "no terminal label")


@dataclass
class Sweeper:
    handler: RequestHandler
    forge: Forge
    policy: SweepPolicy = field(default_factory=SweepPolicy)
    clock: Callable[[], datetime] = timestamps.now

    def run(self) -> list[tuple[SweepDecision, RunOutcome | None]]:
        started = time.monotonic()
        done: list[tuple[SweepDecision, RunOutcome | None]] = []
        acted = 0
        for request in self.forge.open_requests(self.handler.config.labels.request):
            issue, comment = request.issue, request.comment
            if acted >= self.policy.max_issues or time.monotonic() - started > self.policy.time_budget:
                break
            if self.handler.config.labels.terminal & set(issue.labels) or issue.locked \
                    or issue.author_is_bot:
                continue
            record = records.read_or_none(comment.body) if comment else None
            decision = decide(issue, record, self.handler.config.labels, self.policy, self.clock())
            outcome = None
            if decision.action == SweepAction.PROCESS:
                outcome = self.handler.process_safely(issue, comment=comment)
                acted += 1
            elif decision.action == SweepAction.GIVE_UP:
                try:
                    outcome = self.handler.give_up(issue, comment, self.policy.max_attempts)
                except ForgeError as error:
                    self.handler.say(f"sweep: issue #{issue.number}: {error}")
                acted += 1
            self.handler.say(f"sweep: issue #{issue.number}: {decision.action} ({decision.reason})")
            done.append((decision, outcome))
        return done
