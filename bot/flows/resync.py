"""`mirror-bot resync`: keep mirrored tags current with upstream.

Rule: every mirrored target in this shard is re-checked with the sync engine — unchanged costs
two manifest HEADs and copies nothing; a moved tag is copied, verified, and its issue comment's
marker (the index's source of truth) is rewritten with the new digest; an image gone upstream
is reported and the mirror copy is kept. Shard reports merge into one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from bot.errors import MirrorBotError
from bot.forge import Forge
from bot.index import IndexEntry
from bot.platform import Platform
from bot.reference import parse
from bot.render import read_result_marker, replace_result_marker
from bot.sync import Syncer, SyncItem, SyncResult


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resync(entries: list[IndexEntry], syncer: Syncer, jobs: int = 1,
           forge: Forge | None = None, shard: str = "0/1") -> dict[str, Any]:
    started = _now()
    items = [SyncItem(parse(e.source), parse(e.target), tuple(map(Platform.parse, e.platforms)))
             for e in entries]
    results = syncer.sync_all(items, jobs)
    rows = []
    for entry, result in zip(entries, results, strict=True):
        row = _row(entry, result)
        if result.status == "copied" and forge is not None and entry.comment_id:
            try:
                forge.rewrite_comment(entry.comment_id, _record_move(entry, result))
            except MirrorBotError as error:
                row["note"] = f"comment not updated: {error}"
        rows.append(row)
    counts = Counter(row["status"] for row in rows)
    return {"shard": shard, "started_at": started, "finished_at": _now(),
            "counts": dict(counts), "results": rows}


def _row(entry: IndexEntry, result: SyncResult) -> dict[str, Any]:
    status = result.status
    if status == "failed" and result.error and result.error.kind == "not_found":
        status = "gone_upstream"
    return {
        "source": entry.source, "target": entry.target, "status": status,
        "digest": result.digest, "previous_digest": entry.digest,
        "error": {"kind": str(result.error.kind), "message": result.error.message}
        if result.error else None,
    }


def _record_move(entry: IndexEntry, result: SyncResult) -> Callable[[str], str]:
    def rewrite(body: str) -> str:
        marker = read_result_marker(body) or {}
        for image in marker.get("images", []):
            if image.get("target") == entry.target:
                image["digest"] = result.digest
        marker["at"] = _now()
        return replace_result_marker(body.replace(entry.digest, str(result.digest)), marker)
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
        "results": sorted(rows, key=lambda row: row["target"]),
    }
