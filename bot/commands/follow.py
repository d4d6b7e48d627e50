"""Wiring for `follow` and `check-subscriptions`: read the files, build the adapters, run.

Rule: the subscriptions file is read before anything else, so a bad file is one line and exit 2
with nothing done; `check-subscriptions` reports problems as `file:line: problem` and exits 1
on any, like `check-allowlist`. A dry run reads the bot's records when a forge is configured (to
tell new tags from recorded ones) and never writes.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.commands.adapters import build_forge, build_syncer, needs_github
from bot.commands.verdict import report_problems
from bot.config import Loaded
from bot.flows.follow import FollowRun, subscription_problems
from bot.flows.follow import follow as follow_subscriptions
from bot.flows.follow_records import TrackingForge
from bot.policy.subscriptions import load_subscriptions
from bot.records.record import MAX_IMAGES


@dataclass(frozen=True)
class FollowOptions:
    file: Path | None  # subscriptions.yaml, else MIRROR_SUBSCRIPTIONS's
    dry_run: bool
    as_json: bool
    local_forge: Path | None


def follow(options: FollowOptions, loaded: Loaded) -> int:
    subscriptions = load_subscriptions(options.file or loaded.files.subscriptions)
    # A dry run reads the records only where it can; a real run records, so needs a forge.
    with_forge = bool(not options.dry_run or options.local_forge or loaded.github.token)
    config = loaded.config(*needs_github(options.local_forge, with_forge))
    forge: TrackingForge | None = None
    if with_forge:
        forge = build_forge(config.github, config.bot_login, options.local_forge)
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the report's (the local forge echoes)
        run = follow_subscriptions(subscriptions, config, build_syncer(config), forge,
                                   dry_run=options.dry_run, log=sys.stderr)
    if options.as_json:
        print(config.secret_set.json(run.to_json()))
    else:
        print_run(run, sys.stdout)
    return 1 if run.failed else 0


@dataclass(frozen=True)
class CheckSubscriptionsOptions:
    file: Path | None


def check_subscriptions(options: CheckSubscriptionsOptions, loaded: Loaded) -> int:
    path = options.file or loaded.files.subscriptions
    return report_problems(path, subscription_problems(path, loaded.checked_allowlist()),
                           "check-subscriptions")


def print_run(run: FollowRun, out: TextIO) -> None:
    """One paragraph per subscription: what was synced, refused, deferred and recorded."""
    for following in run.followings:
        data = following.to_json()
        issue = f"; recorded on issue #{data['tracking_issue']}" if data["tracking_issue"] else ""
        print(f"{data['image']}: {len(data['selected'])} tag(s) selected{issue}", file=out)
        for row in data["synced"]:
            status = "would sync" if row["status"] == "planned" else row["status"]
            detail = (f"{row['error']['kind']}: {row['error']['message']}" if row["error"]
                      else row["digest"] or ("new" if row["tag"] in following.new else "recorded"))
            print(f"  {status}: {row['tag']} ({detail})", file=out)
        for tag, reason in following.denied:
            print(f"  denied: {tag} ({reason})", file=out)
        over_budget = [d.tag for d in following.deferred if d.reason == "max_new_tags_per_follow"]
        if over_budget:
            print(f"  deferred: {', '.join(over_budget)} (new tags over "
                  "settings.max_new_tags_per_follow; the next run takes them)", file=out)
        waiting = [d for d in following.deferred if d.reason == "rate_limited"]
        if waiting:
            resume = max(str(d.resume_after) for d in waiting)
            print(f"  deferred: {', '.join(d.tag for d in waiting)} (the registry's pull quota "
                  f"is spent; a run after {resume} takes them)", file=out)
        for key, why in LIST_NOTES.items():
            if data[key]:
                print(f"  {key.replace('_', ' ')}: {', '.join(data[key])} ({why})", file=out)
        if following.error:
            print(f"  {following.error.kind}: {following.error.message}", file=out)
    emptied = "would be emptied" if run.dry_run else "is emptied"
    for tracking in run.unsubscribed:
        print(f"{tracking.image}: no longer subscribed; its record on issue "
              f"#{tracking.issue.number} {emptied} (the mirror keeps the tags)", file=out)
    for error in run.errors:
        print(f"error: {error}", file=out)


LIST_NOTES = {
    "over_limit": f"a subscription records at most {MAX_IMAGES} tags; narrow its rules",
    "missing": "named in include, not found upstream",
    "released": "no longer selected: left out of the record, the mirror keeps them",
}
