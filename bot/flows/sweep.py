"""`mirror-bot sweep`: finish what no run finished, and retry failures with backoff.

Rule: an open request issue is picked up when (a) it has no terminal label and no run is
working on it (no bot comment after a grace period, or a "syncing" comment older than a job can
live), or (b) it is labelled as failed and its backoff (doubling per attempt) has passed; after
`max_attempts` failures it is closed with an explanation. Oldest first, within a count and time
budget. The bot comment is always looked up first, so the sweep never adds a second one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import Labels
from bot.flows.handle_event import Handler, Outcome
from bot.forge import BotComment, Forge, ForgeError, IssueSnapshot
from bot.render import read_result_marker


@dataclass(frozen=True)
class SweepPolicy:
    max_issues: int = 20
    time_budget: float = 1800.0
    max_attempts: int = 5
    base_backoff: timedelta = timedelta(minutes=30)
    idle_grace: timedelta = timedelta(minutes=10)
    live_run_grace: timedelta = timedelta(minutes=70)  # the sync job's timeout, plus a margin


@dataclass(frozen=True)
class SweepDecision:
    issue: int
    action: str  # process | wait | give_up | skip
    reason: str


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def decide(issue: IssueSnapshot, comment: BotComment | None, labels: Labels,
           policy: SweepPolicy, now: datetime) -> SweepDecision:
    """What the sweep should do with one open request issue (pure, given its bot comment)."""
    if labels.terminal & set(issue.labels):
        return SweepDecision(issue.number, "skip", "already finished")
    marker = read_result_marker(comment.body) if comment else None
    if marker is None:
        created = _parse_time(issue.created_at) or now
        if now - created < policy.idle_grace:
            return SweepDecision(issue.number, "wait", "new; its own run may still start")
        return SweepDecision(issue.number, "process", "no run finished it")
    at = _parse_time(str(marker.get("at"))) or now
    if marker.get("phase") == "syncing":
        if now - at < policy.live_run_grace:
            return SweepDecision(issue.number, "wait", "a run is syncing it")
        return SweepDecision(issue.number, "process", "its run died while syncing")
    attempts = int(marker.get("attempts") or 0)
    if labels.failure in issue.labels or marker.get("outcome") == "failed":
        if attempts >= policy.max_attempts:
            return SweepDecision(issue.number, "give_up", f"{attempts} failed attempts")
        due = at + policy.base_backoff * 2 ** max(0, attempts - 1)
        if now < due:
            return SweepDecision(issue.number, "wait", f"attempt {attempts + 1} is due at {due:%H:%M}Z")
        return SweepDecision(issue.number, "process", f"retry {attempts + 1}")
    return SweepDecision(issue.number, "process", "no terminal label")


@dataclass
class Sweeper:
    handler: Handler
    forge: Forge
    policy: SweepPolicy = field(default_factory=SweepPolicy)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self) -> list[tuple[SweepDecision, Outcome | None]]:
        started = time.monotonic()
        done: list[tuple[SweepDecision, Outcome | None]] = []
        acted = 0
        for request in self.forge.open_requests(self.handler.config.labels.request):
            issue, comment = request.issue, request.comment
            if acted >= self.policy.max_issues or time.monotonic() - started > self.policy.time_budget:
                break
            if self.handler.config.labels.terminal & set(issue.labels) or issue.locked \
                    or issue.author_is_bot:
                continue
            decision = decide(issue, comment, self.handler.config.labels, self.policy, self.clock())
            outcome = None
            if decision.action == "process":
                outcome = self.handler.process_safely(issue, comment=comment)
                acted += 1
            elif decision.action == "give_up":
                try:
                    outcome = self.handler.give_up(issue, comment, self.policy.max_attempts)
                except ForgeError as error:
                    self.handler.say(f"sweep: issue #{issue.number}: {error}")
                acted += 1
            self.handler.say(f"sweep: issue #{issue.number}: {decision.action} ({decision.reason})")
            done.append((decision, outcome))
        return done
