"""`mirror-bot sync`: copy named images now, with the allowlist applied.

Rule: each image is planned like an issue request (invalid and denied images are reported as
unsynced, never copied: bot/flows/outcomes.py), tag patterns expanded under one cap for all of
them (the images named count toward it only in an issue), then synced; one progress line per image goes
to stderr so stdout stays machine-readable with --json. What is printed passes the run's secret
set first (JSON before it is encoded). Exit 0 when every image is copied or unchanged, 1
otherwise: an image the source's pull quota deferred is not mirrored either.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TextIO

from bot.config import Config
from bot.copy.model import SERVING, SyncItem, SyncResult
from bot.copy.syncer import Syncer
from bot.errors import TransferError
from bot.flows.outcomes import ImageOutcome, Unsynced
from bot.flows.plan import Expansion, Plan, cap_request, expand_pattern, plan_request
from bot.image.oci import human_size
from bot.image.platform import Platform
from bot.image.reference import Reference
from bot.request.title import ImageRequest, RequestedImage, requested_image


def plan_images(images: Sequence[str], platforms: Sequence[Platform], config: Config) -> Plan:
    hosts = config.namer.pasted_prefixes
    requested: list[RequestedImage] = [
        requested_image(text, text.strip(), hosts, config.other_mirrors, config.allowlist.registries)
        for text in images]
    request = ImageRequest(tuple(requested), tuple(platforms))
    return plan_request(request, config.allowlist, config.namer)


def expand_patterns(plan: Plan, list_tags: Callable[[Reference], list[str]], config: Config,
                    *, count_images: bool = False) -> tuple[Plan, list[Unsynced]]:
    """Each allowed tag pattern replaced by the upstream tags it matches (one request lists a
    repository's tags once), under one cap for the whole request (`cap_request`: an issue's
    images count with its patterns' tags when `count_images`); a listing that fails is a failed
    outcome, transient or not."""
    expansions: list[Expansion] = []
    failures: list[Unsynced] = []
    cap = config.allowlist.settings.max_tags_per_request
    for image in plan.images:
        if image.pattern is None or image.decision != "allowed":
            expansions.append(Expansion(image, (image,)))
            continue
        try:
            tags = list_tags(Reference(image.pattern.registry, image.pattern.repository))
        except TransferError as error:
            failures.append(Unsynced.unlisted(image.pattern, error))
            continue
        expansions.append(Expansion(image, expand_pattern(image, tags, config.allowlist,
                                                          config.namer, cap)))
    images = cap_request(expansions, cap, count_images=count_images)
    return replace(plan, images=images), failures


def sync_plan(plan: Plan, syncer: Syncer, jobs: int = 1, progress: TextIO | None = None, *,
              entries: Mapping[str, int | None] | None = None,
              referrers: Mapping[str, tuple[str | None, bool]] | None = None,
              describe: bool = False, request_limit: int | None = None) -> list[ImageOutcome]:
    """Sync the allowed images of a plan (its tag patterns expanded); the outcomes in the plan's
    order, the refused images unsynced. By target, what a record last saw: `entries`, the index
    entries (what a cold copy reads after the index); `referrers`, the top digest's referrer
    set and whether its copy was incomplete (what the no-op check compares). `describe`: tell a
    chart from an image even when it is already current (for a comment). `request_limit`: the
    bytes all of them may copy together (settings.max_request_size)."""
    seen = entries or {}
    carried = referrers or {}
    items = [SyncItem(image.source, image.target, image.platforms, image.also,
                      entries=seen.get(str(image.target)),
                      referrers=carried.get(str(image.target), (None, False))[0],
                      referrers_incomplete=carried.get(str(image.target), (None, False))[1],
                      describe=describe)
             for image in plan.allowed if image.source and image.target]

    def report(result: SyncResult) -> None:
        if progress is None:
            return
        outcome = f"{result.status} ({result.error.kind})" if result.error else result.status
        if result.resume_after:
            outcome += f" until {result.resume_after}"
        print(f"{result.source} -> {result.target}: {outcome}, {human_size(result.size)}, "
              f"{result.pulls} pull(s), {result.elapsed:.1f}s", file=progress, flush=True)
        for gap in result.referrer_gaps:  # referrers_incomplete: what the next resync retries
            print(f"  referrers left out: {gap}", file=progress, flush=True)

    synced = iter(syncer.sync_all(items, jobs, report, request_limit))
    return [next(synced) if image.decision == "allowed" and image.source and image.target
            else Unsynced.refused(image) for image in plan.images]


ListTags = Callable[[Reference], list[str]]


def run_sync(images: Sequence[str], platforms: Sequence[Platform], config: Config,
             syncer: Syncer, list_tags: ListTags, *, jobs: int = 1, as_json: bool = False) -> int:
    plan, failures = expand_patterns(plan_images(images, platforms, config), list_tags, config)
    results = [*sync_plan(plan, syncer, jobs, progress=sys.stderr,
                          request_limit=config.allowlist.settings.max_request_size), *failures]
    secrets = config.secret_set
    if as_json:
        print(secrets.json({"results": [r.to_json() for r in results]}))
    else:
        for result in results:
            line = f"{result.status}: {result.source}"
            if result.target and result.status in SERVING:
                line += f" -> {result.target} ({result.digest})"
            error = result.to_json()["error"]
            if error:
                line += f"\n  {error['kind']}: {error['message']}"
            print(secrets.redact(line))
    return 0 if all(r.status in SERVING for r in results) else 1
