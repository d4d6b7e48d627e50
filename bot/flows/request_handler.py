"""Handle one image request: plan it, hold the issue's one comment, sync, conclude.

Rule: the bot keeps exactly one comment per issue, written by itself, edited in place
(syncing -> result); the record at its end is read only from that comment. A request is
refused before anything is copied when it asks for more than one cap across its patterns'
tags and its images (settings.max_tags_per_request), when its record could pass the record's
bound, or when its images come to more than settings.max_request_size. The per-user cap
applies wherever a user starts a request (opened, reopened, labelled, edited, /retry) and not
to the sweep, which finishes requests already admitted; the allowlist applies on every path
because every path plans the title again. A request that was mirrored keeps its record: when
its title now names other images, nothing is written (a new image needs a new issue). Exit 0
when the issue was handled (an image the source's pull quota deferred included: it waits for
its time, bot/flows/conclude.py), 1 on a transient failure that stays open for a retry. The run's
log line names each failure's kind and message (the maintainers read the log, and a refused
push is theirs to fix); everything logged passes the run's secret set first.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from bot import timestamps
from bot.config import Config
from bot.copy.model import SyncItem
from bot.copy.syncer import Syncer
from bot.errors import ErrorKind, MirrorBotError
from bot.flows.comment_body import CapRefusal, CommentWriter
from bot.flows.conclude import (
    RunOutcome,
    RunStatus,
    issue_update,
    longest_record,
    outcome_of,
    result_record,
    syncing_record,
)
from bot.flows.outcomes import ImageOutcome
from bot.flows.plan import Plan, plan_issue, refuse_allowed
from bot.flows.sync_images import ListTags, expand_patterns, sync_plan
from bot.forge.protocol import BotComment, CommentTooLong, Forge, ForgeError, IssueSnapshot
from bot.image.oci import human_size
from bot.messages import message
from bot.records import record as records
from bot.records.record import Outcome, ResultRecord
from bot.redaction import redact


class Superseded(MirrorBotError):
    """Another run owns this issue's comment; this run stops without writing more."""


class _Unfetched:
    """Marks 'the bot comment has not been looked up yet' (None means 'there is none')."""


UNFETCHED = _Unfetched()
EMPTY_PLAN = Plan(())


@dataclass
class RequestHandler:
    """Processes request issues with the adapters it is given."""

    config: Config
    forge: Forge
    syncer: Syncer
    comments: CommentWriter
    list_tags: ListTags
    # Looked up when the handler is made, not when this module is imported.
    log: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], datetime] = timestamps.now
    # Tells this run's own comment (e.g. a POST duplicated by a retry) from another run's.
    run_nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def say(self, message: str) -> None:
        print(f"mirror-bot: {redact(message, self.config.secret_set)}", file=self.log)

    def process_safely(self, issue: IssueSnapshot, *, requester: str | None = None,
                       comment: BotComment | _Unfetched | None = UNFETCHED) -> RunOutcome:
        """process(), turning tracker failures into a transient outcome instead of a crash."""
        try:
            return self.process(issue, requester=requester, comment=comment)
        except Superseded as error:
            self.say(str(error))
            return RunOutcome(RunStatus.SUPERSEDED, 0)
        except ForgeError as error:
            self.say(f"issue #{issue.number}: {error}; it stays open for the sweep or /retry")
            return RunOutcome(RunStatus.FAILED, 1)

    def process(self, issue: IssueSnapshot, *, requester: str | None = None,
                comment: BotComment | _Unfetched | None = UNFETCHED) -> RunOutcome:
        """Plan, sync and report one request. `requester`: the user who started it now."""
        plan = plan_issue(issue.title, issue.body, self.config.allowlist, self.config.namer,
                          self.config.other_mirrors)
        if isinstance(comment, _Unfetched):
            comment = self.forge.find_bot_comment(issue)
        previous = self._previous_record(comment)
        if previous and previous.outcome == Outcome.MIRRORED and not _same_request(plan, previous):
            self.say(f"issue #{issue.number} was mirrored and its request changed; the record "
                     "stays and nothing is written (a new image needs a new issue)")
            return RunOutcome(RunStatus.KEPT, 0)
        if requester is not None and requester == issue.author:
            cap = self._over_cap(issue)
            if cap:
                return self._conclude(issue, comment, Outcome.INVALID, previous=previous, cap=cap)
        plan, unlisted = expand_patterns(plan, self.list_tags, self.config, count_images=True)
        plan = _recordable(plan)
        if not plan.allowed:
            return self._conclude(issue, comment, outcome_of(plan, unlisted), plan=plan,
                                  results=unlisted, previous=previous)
        record = syncing_record(issue.number, self._now(), self.run_nonce, previous)
        # The index entries the record saw: what a cold copy of each image reads.
        seen = {image.target: image.entries for image in previous.images} if previous else {}
        size, limit = self._size(plan, seen), self.config.allowlist.settings.max_request_size
        if limit is not None and size is not None and size > limit:
            plan = refuse_allowed(plan, message(
                "this request's images come to %(size)s, above this mirror's limit of %(limit)s "
                "per request, so nothing is copied; ask for fewer images or platforms in each "
                "issue", size=human_size(size), limit=human_size(limit)), ErrorKind.TOO_LARGE)
            return self._conclude(issue, comment, outcome_of(plan, unlisted), plan=plan,
                                  results=unlisted, previous=previous)
        comment = self._upsert(issue, comment, self.comments.syncing(plan, record, size), record)
        # What came along last time: the no-op check compares it, an incomplete copy retries.
        carried = {image.target: (image.referrers, image.referrers_incomplete)
                   for image in previous.images} if previous else {}
        # A size not known before the copy is held to the limit as the images are copied.
        results = [*sync_plan(plan, self.syncer, progress=self.log, entries=seen,
                              referrers=carried, describe=True, request_limit=limit), *unlisted]
        return self._conclude(issue, comment, outcome_of(plan, results), plan=plan,
                              results=results, previous=previous)

    def give_up(self, issue: IssueSnapshot, comment: BotComment | None, attempts: int) -> RunOutcome:
        """Close a request whose transient failures outlasted the retry cap."""
        previous = self._previous_record(comment)
        outcome = self._conclude(issue, comment, Outcome.GAVE_UP, previous=previous,
                                 attempts=attempts)
        self.say(f"issue #{issue.number}: gave up after {attempts} attempts")
        return outcome

    def _size(self, plan: Plan, entries: Mapping[str, int | None]) -> int | None:
        """What the sync will move, for the syncing comment; None when any part is unknown.
        The manifests read here (and the pulls they spent) are the ones the sync then uses."""
        sizes = [self.syncer.size_of(SyncItem(image.source, image.target, image.platforms,
                                              image.also, entries=entries.get(str(image.target))))
                 for image in plan.allowed if image.source and image.target]
        return None if any(size is None for size in sizes) else sum(s or 0 for s in sizes)

    def _previous_record(self, comment: BotComment | None) -> ResultRecord | None:
        if comment is None:
            return None
        try:
            return records.read(comment.body)
        except records.RecordError as error:
            self.say(f"the bot's record in comment {comment.id} is unreadable ({error}); "
                     "it is written anew")
            return None

    def _over_cap(self, issue: IssueSnapshot) -> CapRefusal | None:
        limit = self.config.allowlist.settings.max_open_requests_per_user
        # Only the author's earlier requests count: of a burst, the first `limit` go through.
        count = self.forge.open_requests_by(issue.author, self.config.labels.request,
                                            before=issue.number)
        return CapRefusal(count, limit) if count >= limit else None

    def _now(self) -> str:
        return timestamps.to_text(self.clock())

    def _conclude(self, issue: IssueSnapshot, comment: BotComment | None, outcome: Outcome, *,
                  plan: Plan = EMPTY_PLAN, results: Sequence[ImageOutcome] = (),
                  previous: ResultRecord | None, cap: CapRefusal | None = None,
                  attempts: int | None = None) -> RunOutcome:
        """The one way every path ends: comment with the record, then labels and state."""
        record = result_record(issue.number, outcome, self._now(), results, previous,
                               attempts=attempts)
        body = self.comments.result(plan, outcome, results, record, cap=cap, title=issue.title)
        self._upsert(issue, comment, body, record)
        update = issue_update(outcome, self.config.labels, issue.labels, issue.state)
        self.forge.update_issue(issue, update.labels, update.state, update.state_reason)
        statuses = "; ".join(map(_logged, results)) or "nothing synced"
        self.say(f"issue #{issue.number}: {outcome} ({statuses})")
        return RunOutcome(RunStatus(outcome.value), 1 if outcome == Outcome.FAILED else 0,
                          tuple(results))

    def _upsert(self, issue: IssueSnapshot, comment: BotComment | None, body: str,
                record: ResultRecord) -> BotComment:
        """Write the bot's comment; one GitHub refuses as too long is written brief (a line, the
        job summary's link, `record`), so the request still ends."""
        try:
            return self._write(issue, comment, body)
        except CommentTooLong as error:
            self.say(f"issue #{issue.number}: {error}; the short comment is written instead")
            return self._write(issue, comment, self.comments.brief(record))

    def _write(self, issue: IssueSnapshot, comment: BotComment | None, body: str) -> BotComment:
        if comment is None:
            return self._create(issue, body)
        return self.forge.edit_comment(issue, comment, body)

    def _create(self, issue: IssueSnapshot, body: str) -> BotComment:
        """Create the bot comment, then make sure it is the only one.

        Two runs (handle-event and the sweep) can both find no comment and both create one; a
        retried POST can create one twice. The oldest of the bot's own comments wins: a run
        whose comment is not the oldest deletes its own, adopting the oldest if it is its own
        duplicate, and otherwise leaves the issue to the run that owns it. Comments by anyone
        else are never considered.
        """
        created = self.forge.create_comment(issue, body)
        older = [c for c in self.forge.bot_comments(issue) if c.id < created.id]
        if not older:
            return created
        self.forge.delete_comment(created)
        if older[0].body == body:
            return older[0]
        raise Superseded(f"issue #{issue.number} is being handled by another run")


def _recordable(plan: Plan) -> Plan:
    """The plan, or every image of it refused when its record could pass the record's bound
    (bot/records/record.py): such a request is refused before anything is copied."""
    length = longest_record(plan)
    if length <= records.MAX_RECORD_LENGTH:
        return plan
    return refuse_allowed(plan, message(
        "the record of these %(count)s images could take %(length)s characters, more than the "
        "%(limit)s the bot keeps on one issue, so nothing is copied; ask for fewer images in "
        "each issue", count=len(plan.allowed), length=length, limit=records.MAX_RECORD_LENGTH),
        ErrorKind.TOO_MANY_TAGS)


def _logged(result: ImageOutcome) -> str:
    """One image's part of the run's log line: its status, and why when it failed."""
    error = result.to_json()["error"] if result.status == "failed" else None
    why = f" ({error['kind']}: {error['message']})" if error else ""
    return f"{result.source}: {result.status}{why}"


def _same_request(plan: Plan, previous: ResultRecord) -> bool:
    """True when the plan asks for what the mirrored record holds (a refresh, not a new image)."""
    recorded = {image.source for image in previous.images}
    return {str(image.source) for image in plan.allowed} <= recorded if recorded else True
