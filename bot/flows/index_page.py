"""`mirror-bot index`: build the index from the bot's comments and render the status page.

Rule: the index is derived (see bot/records/index.py) from the records on request issues and on
follow's tracking issues, costing one API request per 100 issues of each label plus one per 100
open requests for the queue (an open request whose record says the source's pull quota deferred
it is `waiting`, until the time the record gives); resync reports, when given, add when each image was
last verified and its current digest. The page is static HTML plus index.json; both pass the
run's secret set (the JSON before it is encoded, the page's values before they are escaped).
Times on the page are told as how long before the run's clock (passed in), each with its exact
UTC time on hover; the page's script counts them again from the reader's clock when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bot import timestamps
from bot.config import Config
from bot.copy.model import SERVING
from bot.flows.follow_records import FOLLOW_LABEL
from bot.forge.protocol import BotComment, Forge
from bot.records import record as records
from bot.records.index import Index, IndexEntry, QueueEntry, QueueState, entries_from_record
from bot.records.record import Outcome, RecordError, ResultRecord
from bot.records.trust import Standing, check_image
from bot.redaction import Secrets
from bot.render import render


def build_index(forge: Forge, config: Config, reports: Iterable[dict[str, Any]] = (),
                now: datetime | None = None, log: TextIO | None = None) -> Index:
    """The index from the bot's own records, checked against today's configuration."""
    log = log or sys.stderr
    index = Index(generated_at=timestamps.to_text(now or timestamps.now()))
    deferred: dict[int, str] = {}  # issue -> when the source's quota lets it resume
    for comment in _record_comments(forge, (config.labels.request, FOLLOW_LABEL)):
        record = _record(comment, log)
        if record is None:
            continue
        if record.outcome == Outcome.DEFERRED and record.resume_after:
            deferred[record.issue] = record.resume_after
        for entry in _entries(comment, record, config, log):
            index.add(entry)
    labels = config.labels
    for issue in forge.open_request_issues(labels.request):
        if labels.terminal & set(issue.labels):
            continue
        state: QueueState = "failing" if labels.failure in issue.labels else (
            "waiting" if issue.number in deferred else "pending")
        index.queue.append(QueueEntry(issue.number, issue.title[:200], issue.html_url, state,
                                      opened_at=issue.created_at,
                                      resume_after=deferred.get(issue.number, "")
                                      if state == "waiting" else ""))
    for report in reports:
        apply_report(index, report)
    return index


def _record_comments(forge: Forge, labels: Iterable[str]) -> Iterator[BotComment]:
    """The bot's comment on each issue of each label (requests, follow's tracking issues), once
    each: one listing per label."""
    seen: set[int] = set()
    for label in labels:
        for comment in forge.all_bot_comments(label):
            if comment.id not in seen:
                seen.add(comment.id)
                yield comment


def _record(comment: BotComment, log: TextIO) -> ResultRecord | None:
    """The record in the bot's comment, None (with a warning) when it cannot be used."""
    where = comment.issue_url or f"comment {comment.id}"
    try:
        record = records.read(comment.body)
    except RecordError as error:
        print(f"mirror-bot: skipped the record in {where}: {error}", file=log)
        return None
    if record is not None and comment.issue_number is not None \
            and record.issue != comment.issue_number:
        print(f"mirror-bot: skipped the record in {where}: it names issue #{record.issue}",
              file=log)
        return None
    return record


def _entries(comment: BotComment, record: ResultRecord, config: Config,
             log: TextIO) -> list[IndexEntry]:
    where = comment.issue_url or f"comment {comment.id}"
    checks = [check_image(image, config.allowlist, config.namer) for image in record.images]
    for check in checks:
        if check.standing == Standing.REJECTED:
            print(f"mirror-bot: skipped {check.image.target} recorded in {where}: {check.reason}",
                  file=log)
    return entries_from_record(record, checks, comment.issue_url, comment.id)


def apply_report(index: Index, report: dict[str, Any]) -> None:
    """Record a resync report: last-verified times and current digests."""
    finished = str(report.get("finished_at", ""))
    for result in report.get("results", []):
        entry = index.entries.get(str(result.get("target")))
        if entry is None or result.get("status") not in SERVING:
            continue
        digest = str(result.get("digest") or entry.digest)
        # The platforms recorded were served by the recorded digest, and its signatures were
        # about it; of a new one nothing is known.
        same = digest == entry.digest
        image = replace(entry.image, digest=digest, served=entry.image.served if same else (),
                        signed=entry.image.signed and same)
        index.entries[entry.target] = replace(entry, image=image,
                                              last_sync=max(finished, entry.last_sync))
    summary = {key: report.get(key) for key in ("started_at", "finished_at", "counts")}
    if index.last_resync is None or str(summary["finished_at"]) > str(
            index.last_resync.get("finished_at")):
        index.last_resync = summary


def write_outputs(index: Index, json_path: Path | None, html_dir: Path | None,
                  repository_url: str = "", language: str = "en", *,
                  secrets: Secrets | None = None, clock: datetime | None = None) -> None:
    """index.json at `json_path`, and the status page (index.html and index.json) in
    `html_dir`; `secrets`: the run's secret set; `clock`: the time the page counts from (now
    by default)."""
    secrets = secrets if secrets is not None else Secrets()
    clock = clock or timestamps.now()
    data = secrets.json(index.to_json())
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(data)
    if html_dir:
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / "index.json").write_text(data)
        html = render("index.html.j2", language, secrets=secrets, index=index,
                      entries=index.sorted_entries(), repository_url=repository_url,
                      moment=lambda text: timestamps.moment(text, clock),
                      unit_seconds=[(str(unit), int(length.total_seconds()))
                                    for unit, length in timestamps.UNIT_LENGTHS],
                      clock_skew=int(timestamps.CLOCK_SKEW.total_seconds()))
        (html_dir / "index.html").write_text(html, encoding="utf-8")
