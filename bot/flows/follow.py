"""`mirror-bot follow`: keep the tags that subscriptions.yaml selects mirrored.

Rule: for each subscription, the repository is decided by today's allowlist, its upstream tags
are listed (the tags/list API: no pull is spent; a listing that fails is that subscription's
failure, and the others go on), the rules select tags, and each selected tag is decided again (a
denied tag is reported, never copied). Tags the subscription already records are always
re-checked (an unchanged tag costs one manifest HEAD upstream and one at the mirror); new tags
are admitted newest first up to `settings.max_new_tags_per_follow` per run, over all
subscriptions, and the rest wait for the next run; so does a tag the source's pull quota
deferred (listed with the time it may be read again, never as synced, failing nothing). A
subscription records at most `records.MAX_IMAGES` tags, and no more than its record can hold
(`records.longest` within `records.MAX_RECORD_LENGTH`): the newest are kept. What is mirrored
is recorded on the subscription's tracking issue (bot/flows/follow_records.py); a tag that
leaves the selection leaves the record (the mirror keeps the copy). A dry run lists tags
upstream and the bot's records, and writes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TextIO

from bot import timestamps
from bot.config import Config
from bot.copy.model import SERVING, SyncItem, SyncResult
from bot.copy.syncer import Syncer
from bot.errors import ConfigError, ErrorKind, TransferError
from bot.flows.follow_records import RecordWriter, Tracking, TrackingForge, read_tracking
from bot.forge.protocol import ForgeError
from bot.image.reference import Reference
from bot.policy.allowlist import Allowlist
from bot.policy.naming import Namer
from bot.policy.subscriptions import Subscription, check_subscriptions_file
from bot.policy.tags import select_tags
from bot.policy.yamlfile import Problem
from bot.records import record as records
from bot.records.record import MAX_IMAGES, RecordedImage

ListTags = Callable[[Reference], list[str]]


@dataclass(frozen=True)
class Failure:
    """Why a subscription was not followed this run."""

    kind: str  # an ErrorKind's value, or `record`
    message: str
    fails_run: bool = True  # a refusal by the allowlist is reported but fails nothing

    def to_json(self) -> dict[str, str]:
        return {"kind": str(self.kind), "message": self.message}


DeferralReason = Literal["max_new_tags_per_follow", "rate_limited"]


@dataclass(frozen=True)
class Deferral:
    """A tag left for a later run: over the run's budget of new tags, or the pull quota's."""

    tag: str
    reason: DeferralReason
    resume_after: str | None = None  # rate_limited: when the source may be read again

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "reason": self.reason, "resume_after": self.resume_after}


@dataclass
class Following:
    """One subscription's run: what was chosen, synced, refused, deferred and recorded."""

    subscription: Subscription
    tracking: Tracking | None = None
    selected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # `include` tags upstream does not have
    denied: list[tuple[str, str]] = field(default_factory=list)  # (tag, reason)
    to_sync: list[str] = field(default_factory=list)
    over_budget: list[str] = field(default_factory=list)  # new tags over max_new_tags_per_follow
    over_limit: list[str] = field(default_factory=list)
    results: list[SyncResult] = field(default_factory=list)
    error: Failure | None = None
    issue: int | None = None

    @cached_property
    def recorded(self) -> dict[str, RecordedImage]:
        """The tags the tracking record holds, by tag."""
        images = self.tracking.images if self.tracking else ()
        return {image.source.rpartition(":")[2]: image for image in images
                if image.source.rpartition(":")[0] == self.subscription.name}

    @property
    def new(self) -> list[str]:
        return [tag for tag in self.to_sync if tag not in self.recorded]

    @property
    def released(self) -> list[str]:
        """Recorded tags no longer selected and allowed: they leave the record."""
        return [] if self.error else [tag for tag in self.recorded if tag not in self.to_sync]

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results) or bool(
            self.error and self.error.fails_run)

    @property
    def deferred(self) -> list[Deferral]:
        """Tags left for a later run: over the budget of new tags, then those the pull quota
        deferred this run."""
        return [*(Deferral(tag, "max_new_tags_per_follow") for tag in self.over_budget),
                *(Deferral(tag, "rate_limited", result.resume_after)
                  for tag, result in self._synced() if result and result.status == "deferred")]

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.subscription.name, "selected": list(self.selected),
            "synced": [_synced_json(tag, result) for tag, result in self._synced()
                       if result is None or result.status != "deferred"],
            "denied": [{"tag": tag, "reason": reason} for tag, reason in self.denied],
            "deferred": [deferral.to_json() for deferral in self.deferred],
            "over_limit": self.over_limit,
            "missing": list(self.missing), "released": self.released,
            "error": self.error.to_json() if self.error else None,
            "tracking_issue": self.issue or (self.tracking.issue.number if self.tracking else None),
        }

    def _synced(self) -> list[tuple[str, SyncResult | None]]:
        if not self.results:  # a dry run: what would be synced
            return [(tag, None) for tag in self.to_sync]
        return list(zip(self.to_sync, self.results, strict=True))


def _synced_json(tag: str, result: SyncResult | None) -> dict[str, Any]:
    if result is None:
        return {"tag": tag, "status": "planned", "digest": None, "error": None}
    error = result.to_json()["error"]
    return {"tag": tag, "status": result.status, "digest": result.digest, "error": error}


def choose(subscription: Subscription, config: Config, list_tags: ListTags,
           tracking: Tracking | None, new_budget: int) -> Following:
    """Decide, list, select and cap one subscription's tags (no copy, no write)."""
    following = Following(subscription, tracking)
    repository = Reference(subscription.registry, subscription.repository)
    decision = config.allowlist.decide_repository(repository)
    if not decision.allowed:
        following.error = Failure(ErrorKind.NOT_ALLOWED, str(decision.reason), fails_run=False)
        return following
    try:
        tags = list_tags(repository)
    except TransferError as error:
        # A 429 is the registry's quota: the next run lists it again, and nothing failed.
        following.error = Failure(error.kind, error.message,
                                  fails_run=error.kind is not ErrorKind.RATE_LIMITED)
        return following
    selection = select_tags(tags, subscription.rules)
    following.selected, following.missing = selection.tags, selection.missing
    allowed = []
    for tag in selection.tags:
        verdict = config.allowlist.decide(subscription.reference(tag))
        if verdict.allowed:
            allowed.append(tag)
        else:
            following.denied.append((tag, str(verdict.reason)))
    allowed, following.over_limit = recordable(allowed, subscription, config.namer)
    new = [tag for tag in allowed if tag not in following.recorded]
    admitted = set(new[:new_budget])
    following.to_sync = [tag for tag in allowed if tag not in new or tag in admitted]
    following.over_budget = [tag for tag in new if tag not in admitted]
    return following


def recordable(tags: list[str], subscription: Subscription,
               namer: Namer) -> tuple[list[str], list[str]]:
    """The first of `tags` (newest first) that a tracking record can hold, and the rest."""
    def planned(chosen: list[str]) -> list[RecordedImage]:
        return [RecordedImage(str(ref), str(target), "", also=tuple(map(str, also)))
                for ref in map(subscription.reference, chosen)
                for target, *also in [namer.targets(ref)]]

    kept = tags[:MAX_IMAGES]
    while kept and records.longest(planned(kept)) > records.MAX_RECORD_LENGTH:
        kept = kept[:-1]
    return kept, tags[len(kept):]


def record_images(following: Following, namer: Namer, now: str) -> list[RecordedImage]:
    """The images to record: each tag mirrored now (keeping its first sync), and each recorded
    tag that failed this run but is still selected (the mirror still serves its last copy)."""
    images = []
    for tag, result in zip(following.to_sync, following.results, strict=True):
        before = following.recorded.get(tag)
        if result.status in SERVING and result.target is not None and result.digest:
            first = before.first_sync if before and before.first_sync else now
            images.append(RecordedImage(
                str(result.source), str(result.target), result.digest, (), first,
                tuple(str(a) for a in result.addresses[1:]),
                tuple(str(p) for p in result.served), result.entries, result.referrer_set,
                result.referrers_incomplete, bool(result.signed)).keeping_served(before))
        elif before is not None and before.target == str(namer.target(
                following.subscription.reference(tag))):
            images.append(before)
    return images


@dataclass
class FollowRun:
    followings: list[Following]
    # tracking issues of images no longer subscribed: their records are emptied
    unsubscribed: list[Tracking] = field(default_factory=list)
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)  # records of those that were not emptied

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(following.failed for following in self.followings)

    def to_json(self) -> dict[str, Any]:
        return {"subscriptions": [f.to_json() for f in self.followings],
                "unsubscribed": [{"image": t.image, "tracking_issue": t.issue.number,
                                  "released": [i.source for i in t.images]}
                                 for t in self.unsubscribed],
                "errors": self.errors, "dry_run": self.dry_run}


def follow(subscriptions: Sequence[Subscription], config: Config, syncer: Syncer,
           forge: TrackingForge | None, *, dry_run: bool = False,
           log: TextIO | None = None) -> FollowRun:
    """Follow every subscription and record what is mirrored (without a forge: nothing is
    recorded); with `dry_run`, only list and choose (no copy, no write). Progress and warnings
    go to `log` (default: standard error as it is at the call)."""
    check_unique(subscriptions)
    log = log or sys.stderr
    tracked = read_tracking(forge, log) if forge is not None else {}
    budget = config.allowlist.settings.max_new_tags_per_follow
    followings = []
    for subscription in subscriptions:
        following = choose(subscription, config, syncer.registry.list_tags,
                           tracked.get(subscription.name), budget)
        budget -= len(following.new)
        followings.append(following)
    names = {s.name for s in subscriptions}
    run = FollowRun(followings, [t for name, t in tracked.items() if name not in names and t.images],
                    dry_run)
    if dry_run:
        return run
    _sync(followings, syncer, config.namer, log)
    if forge is not None:
        _record(run, RecordWriter(forge, config.language, config.secret_set), config.namer, log)
    return run


def _sync(followings: Iterable[Following], syncer: Syncer, namer: Namer, log: TextIO) -> None:
    items = [(following, SyncItem(ref, target, also=tuple(also), entries=_entries(following, tag),
                                  referrers=recorded.referrers if recorded else None,
                                  referrers_incomplete=bool(recorded and recorded.referrers_incomplete)))
             for following in followings for tag in following.to_sync
             for recorded in [following.recorded.get(tag)]
             for ref in [following.subscription.reference(tag)]
             for target, *also in [namer.targets(ref)]]

    def progress(result: SyncResult) -> None:
        kind = f" ({result.error.kind})" if result.error else ""
        if result.resume_after:
            kind += f" until {result.resume_after}"
        print(f"follow: {result.source} -> {result.target}: {result.status}{kind}", file=log,
              flush=True)

    results = syncer.sync_all([item for _, item in items], on_done=progress)
    for (following, _), result in zip(items, results, strict=True):
        following.results.append(result)


def _entries(following: Following, tag: str) -> int | None:
    """The index entries the record saw for `tag` (what its next cold copy reads)."""
    recorded = following.recorded.get(tag)
    return recorded.entries if recorded else None


def _record(run: FollowRun, writer: RecordWriter, namer: Namer, log: TextIO) -> None:
    now = timestamps.now_text()
    for following in run.followings:
        if following.error is not None:
            continue  # the record stays as it was: nothing was learned about these tags
        try:
            following.issue = writer.write(following.subscription.name, following.tracking,
                                           record_images(following, namer, now))
        except ForgeError as error:  # GitHub failed after its retries: the next run writes it
            following.error = Failure("record", f"the record was not written: {error}")
    for tracking in run.unsubscribed:
        print(f"follow: {tracking.image} is no longer subscribed: its {len(tracking.images)} "
              f"tag(s) leave the record on issue #{tracking.issue.number} (the mirror keeps "
              "them)", file=log)
        try:
            writer.write(tracking.image, tracking, ())
        except ForgeError as error:
            run.errors.append(f"{tracking.image}: the record was not emptied: {error}")


def _twice(subscriptions: Iterable[Subscription]) -> list[tuple[Subscription, int | None]]:
    """Subscriptions naming an image an earlier one names, with the earlier one's line."""
    first: dict[str, int | None] = {}
    found = []
    for subscription in subscriptions:
        if subscription.name in first:
            found.append((subscription, first[subscription.name]))
        first.setdefault(subscription.name, subscription.line)
    return found


def subscription_problems(path: Path, allowlist: Allowlist) -> list[Problem]:
    """`check-subscriptions`: the file's problems, an image subscribed twice, and each
    subscription whose repository today's allowlist denies."""
    subscriptions, problems = check_subscriptions_file(path)
    for subscription, line in _twice(subscriptions):
        problems.append(Problem(subscription.line, f"{subscription.name} is subscribed twice "
                                f"(first on line {line}); merge the two", subscription.source))
    for subscription in subscriptions:
        decision = allowlist.decide_repository(
            Reference(subscription.registry, subscription.repository))
        if not decision.allowed:
            problems.append(Problem(subscription.line, f"{subscription.name}: {decision.reason}; "
                                    "allow it in the allowlist or remove the subscription",
                                    subscription.source))
    return sorted(problems, key=lambda p: (p.line or 0, p.message))


def check_unique(subscriptions: Sequence[Subscription]) -> None:
    """One tracking issue per image: an image subscribed twice is a configuration error."""
    for subscription, line in _twice(subscriptions):
        raise ConfigError(f"{subscription.source}:{subscription.line}: {subscription.name} is "
                          f"subscribed twice (first on line {line}); merge the two")
