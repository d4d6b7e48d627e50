"""`mirror-bot resync`: keep mirrored tags current with upstream.

Rule: every current entry of this shard is checked again against today's allowlist and naming
(a record that fails is skipped with one warning, never copied to), then re-checked with the
sync engine — unchanged costs two manifest HEADs and copies nothing; a moved tag is copied,
verified, and the record in its issue comment (the index's source of truth) is rewritten with
the new digest (at most `max_record_updates` records: this shard's share of the run's one
budget, `Index.record_update_shares`, so a storm of moved tags over any number of shards stays
within the GitHub budget; the rest catch up next run); every address today's configuration
gives is written (a mirror added since is filled in); what travels with an image (its
signatures and other referrers) is checked by the top digest's set, copied when it changed or
an earlier copy left some out, and the record follows; an image gone upstream is reported and the
mirror copy is kept; an image the source's pull quota stopped is `deferred` (with the time it
may be read again: the next resync takes it up), which fails nothing. Shard reports merge into
one. The report is an artifact other jobs and
people read: whoever writes it redacts it by the run's secret set (bot/redaction.py).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal, TextIO

from bot import timestamps
from bot.config import Config
from bot.copy.model import SERVING, SyncItem, SyncResult
from bot.copy.syncer import Syncer
from bot.errors import ErrorKind, MirrorBotError
from bot.forge.protocol import Forge
from bot.image import reference
from bot.image.platform import Platform
from bot.records import record as records
from bot.records.index import RECORD_UPDATES_PER_RUN, IndexEntry
from bot.records.trust import Standing, check_image

# A report row's status: the engine's, or what a failure that loses nothing means here.
ResyncStatus = Literal["copied", "unchanged", "failed", "deferred", "gone_upstream", "superseded"]


def trusted_items(entries: Iterable[IndexEntry], config: Config,
                  log: TextIO | None = None) -> list[tuple[IndexEntry, SyncItem]]:
    """The entries today's configuration still vouches for, as sync items."""
    log = log or sys.stderr
    items = []
    for entry in entries:
        check = check_image(entry.image, config.allowlist, config.namer)
        if check.standing != Standing.TRUSTED:
            print(f"mirror-bot: resync skips {entry.target[:200]}: {check.reason}", file=log)
            continue
        source = reference.parse(entry.source)
        # Every address today's configuration gives (a mirror added since is filled in now).
        also = tuple(t for t in config.namer.targets(source) if str(t) != entry.target)
        item = SyncItem(source, reference.parse(entry.target),
                        tuple(map(Platform.parse, entry.platforms)), also,
                        entries=entry.image.entries, referrers=entry.image.referrers,
                        referrers_incomplete=entry.image.referrers_incomplete)
        items.append((entry, item))
    return items


def resync(entries: list[IndexEntry], syncer: Syncer, config: Config, *, jobs: int = 1,
           forge: Forge | None = None, shard: str = "0/1", log: TextIO | None = None,
           max_record_updates: int = RECORD_UPDATES_PER_RUN) -> dict[str, Any]:
    started = timestamps.now_text()
    pairs = trusted_items(entries, config, log)
    results = syncer.sync_all([item for _, item in pairs], jobs)
    rows = []
    updates = 0
    for (entry, _), result in zip(pairs, results, strict=True):
        row = _row(entry, result)
        # The record catches up whenever it differs from what the mirror serves now: a moved
        # tag, an update deferred or failed in an earlier run, an address added or lost.
        moved = result.digest != entry.digest or set(map(str, result.addresses[1:])) != set(
            entry.image.also) or _carried_differs(entry, result)
        if moved and result.status in SERVING and forge is not None \
                and entry.comment_id:
            if updates >= max_record_updates:
                # The mirror serves it already; the record catches up in a later run, within
                # the GitHub budget (2 requests per update).
                row["note"] = "record update deferred to the next resync"
                rows.append(row)
                continue
            updates += 1
            try:
                forge.rewrite_comment(entry.comment_id, _record_move(entry, result))
            except MirrorBotError as error:
                row["note"] = f"comment not updated: {error}"
        rows.append(row)
    counts = Counter(row["status"] for row in rows)
    return {"shard": shard, "started_at": started, "finished_at": timestamps.now_text(),
            "counts": dict(counts),
            "record_updates": {"made": updates, "allowed": max_record_updates},
            "results": rows}


def resync_status(result: SyncResult) -> ResyncStatus:
    """The engine's status, but a failure that loses nothing is named for what it is: the
    image is gone upstream (the mirror keeps its copy), or the tag serves every platform now."""
    kind = result.error.kind if result.status == "failed" and result.error else None
    if kind is ErrorKind.NOT_FOUND:
        return "gone_upstream"
    if kind is ErrorKind.SUBSET_REFUSED:
        return "superseded"
    return result.status


def _row(entry: IndexEntry, result: SyncResult) -> dict[str, Any]:
    return {
        "source": entry.source, "target": entry.target, "status": resync_status(result),
        "digest": result.digest, "previous_digest": entry.digest,
        "targets": [a.to_json() for a in result.also],
        "error": {"kind": str(result.error.kind), "message": result.error.message}
        if result.error else None,
        "pulls": result.pulls, "resume_after": result.resume_after,
        "referrers": result.referrers, "referrers_incomplete": result.referrers_incomplete,
    }


def _carried_differs(entry: IndexEntry, result: SyncResult) -> bool:
    """What came along is not what the record says: a new signature, or an incomplete copy
    completed (or one that is incomplete now)."""
    return result.referrer_set != entry.image.referrers or \
        result.referrers_incomplete != entry.image.referrers_incomplete or \
        (result.signed is not None and result.signed != entry.image.signed)


def _record_move(entry: IndexEntry, result: SyncResult) -> Callable[[str], str]:
    """A rewrite of the issue comment: the moved image gets its new digest in the record."""
    def rewrite(body: str) -> str:
        record = records.read(body)
        if record is None:
            raise records.RecordError("the comment has no record to update")
        also = tuple(str(a) for a in result.addresses[1:])
        # What the old digest served is no word on a new one: the copy's, when it saw them.
        served = tuple(str(p) for p in result.served)
        images = tuple(replace(image, digest=str(result.digest), also=also, served=served,
                               entries=result.entries, referrers=result.referrer_set,
                               referrers_incomplete=result.referrers_incomplete,
                               signed=bool(result.signed)).keeping_served(image)
                       if image.target == entry.target else image for image in record.images)
        moved = record.with_images(images, timestamps.now_text())
        return records.replace_record(body.replace(entry.digest, str(result.digest)), moved)
    return rewrite


def merge_reports(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    reports = list(reports)
    rows = [row for report in reports for row in report.get("results", [])]
    return {
        "shard": "merged",
        "shards": sorted(str(r.get("shard")) for r in reports),
        "started_at": min((str(r["started_at"]) for r in reports), default=""),
        "finished_at": max((str(r["finished_at"]) for r in reports), default=""),
        "counts": dict(Counter(row["status"] for row in rows)),
        # Each shard's share and use of the run's one record-update budget, added up.
        "record_updates": {key: sum(_count(r.get("record_updates"), key) for r in reports)
                           for key in ("made", "allowed")},
        "results": sorted(rows, key=lambda row: row["target"]),
    }


def _count(tally: Any, key: str) -> int:
    """A count from a shard report's tally; a report from before the tally counts none."""
    value = tally.get(key) if isinstance(tally, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
