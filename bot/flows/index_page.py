"""`mirror-bot index`: build the index from the bot's comments and render the status page.

Rule: the index is derived (see bot/index.py), costing one API request per 100 comments plus
one per 100 open requests for the queue; resync reports, when given, add when each image was
last verified and its current digest. The page is static HTML plus index.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Labels
from bot.forge import Forge
from bot.index import Index, QueueEntry, entries_from_marker
from bot.render import read_result_marker, render


def build_index(forge: Forge, labels: Labels, reports: Iterable[dict[str, Any]] = (),
                now: datetime | None = None) -> Index:
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    index = Index(generated_at=moment)
    for comment in forge.all_bot_comments(labels.request):
        marker = read_result_marker(comment.body)
        if marker:
            for entry in entries_from_marker(marker, comment.issue_url, comment.id):
                index.add(entry)
    for issue in forge.open_request_issues(labels.request):
        if labels.terminal & set(issue.labels):
            continue
        state = "failing" if labels.failure in issue.labels else "pending"
        index.queue.append(QueueEntry(issue.number, issue.title[:200], issue.html_url, state,
                                      issue.created_at))
    for report in reports:
        apply_report(index, report)
    return index


def apply_report(index: Index, report: dict[str, Any]) -> None:
    """Record a resync report: last-verified times and current digests."""
    finished = str(report.get("finished_at", ""))
    for result in report.get("results", []):
        entry = index.entries.get(str(result.get("target")))
        if entry is None or result.get("status") not in {"copied", "unchanged"}:
            continue
        index.entries[entry.target] = replace(entry, digest=result.get("digest") or entry.digest,
                                              last_sync=max(finished, entry.last_sync))
    summary = {key: report.get(key) for key in ("started_at", "finished_at", "counts")}
    if index.last_resync is None or str(summary["finished_at"]) > str(
            index.last_resync.get("finished_at")):
        index.last_resync = summary


def write_outputs(index: Index, json_path: Path | None, html_dir: Path | None,
                  repository_url: str = "") -> None:
    data = index.to_json()
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(data, indent=2))
    if html_dir:
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / "index.json").write_text(json.dumps(data, indent=2))
        html = render("index.html.j2", index=index, entries=index.sorted_entries(),
                      repository_url=repository_url)
        (html_dir / "index.html").write_text(html, encoding="utf-8")
