"""The text of the bot's one comment: syncing, then the result, with the record at its end.

Rule: comments come from Jinja2 templates; user text reaches them only through the `code` and
`text` filters (bot/render.py), which neutralise Markdown, HTML, mentions and anything that
could form a marker. Every value is redacted by the run's secret set before those filters
escape it, and the comment once more (bot/render.py). The record is always the comment's last
line, and nothing but the bot's own record is ever written there.

A comment stays under COMMENT_LIMIT characters (GitHub refuses one over 65,536): the first
images are shown in full, the next ones a line each, the rest counted with a pointer to the
run's job summary (which lists every image), and each image shows a few notes at most; a
comment still too long is written with less, and at the least as `brief`: one line, the job
summary's link and the record (at most 48 KB: bot/records/record.py). `brief` is also what the
handler writes when GitHub refuses a comment as too long all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.copy.model import SERVING
from bot.errors import ErrorKind
from bot.flows.outcomes import ImageOutcome
from bot.flows.plan import Plan, PlannedImage
from bot.image.oci import human_size
from bot.records.record import COMMENT_MARKER, Outcome, Phase, ResultRecord
from bot.render import render

COMMENT_LIMIT = 60_000  # characters; GitHub refuses a comment over 65,536 (HTTP 422)
NOTES_SHOWN = 3  # notes and failed further addresses shown per image


@dataclass(frozen=True)
class Detail:
    """How much a comment shows: images in full, images listed a line each (every list)."""

    full: int
    rows: int


# Tried in turn until the comment fits; `brief` after the last.
DETAILS = (Detail(full=10, rows=100), Detail(full=3, rows=20), Detail(full=0, rows=5))


@dataclass(frozen=True)
class CapRefusal:
    """The per-user cap refused the request: `count` open requests the author opened before
    it, `limit` allowed."""

    count: int
    limit: int


@dataclass(frozen=True)
class CommentWriter:
    run_url: str | None
    allowlist_url: str
    secrets: Iterable[str] = ()  # the run's secret set (bot/redaction.py's Secrets)
    language: str = "en"

    def syncing(self, plan: Plan, record: ResultRecord, size: int | None = None) -> str:
        return self._render(plan=plan, phase="syncing", record=record,
                            size=human_size(size) if size else "")

    def brief(self, record: ResultRecord) -> str:
        """The shortest comment: one line for the outcome, the job summary's link, the record."""
        return self._body(plan=Plan(()), phase="brief", record=record,
                          outcome=str(record.outcome or "") if record.phase == Phase.RESULT
                          else "")

    def result(self, plan: Plan, outcome: Outcome, results: Sequence[ImageOutcome],
               record: ResultRecord, *, cap: CapRefusal | None = None, title: str = "") -> str:
        refused = [image for image in plan.images if image.decision != "allowed"]
        denied = [image for image in refused if image.decision == "denied"]
        failed = [r for r in results if r.status == "failed"]
        deferred = [r for r in results if r.status == "deferred"]
        return self._render(
            plan=plan, phase="result", record=record, outcome=str(outcome),
            mirrored=[r for r in results if r.status in SERVING],
            refused=refused, failed=failed, deferred=deferred, any_denied=bool(denied),
            resume_after=record.resume_after,
            example_pattern=denied[0].source.name if denied and denied[0].source else "",
            suggestion=next((i.suggestion for i in [*refused, *_not_there(plan, failed)]
                             if i.suggestion), None),
            notes={str(image.source): image.notes for image in plan.allowed},
            addresses={str(r.source): _for_people(r, plan) for r in results},
            attempts=record.attempts, cap=cap, title=title,
            mirror_credentials=any(r.error and r.error.kind == ErrorKind.MIRROR_UNAUTHORIZED
                                   for r in failed))

    def _render(self, *, plan: Plan, phase: str, record: ResultRecord, **context: Any) -> str:
        """The comment at the most detail that fits COMMENT_LIMIT, else `brief`."""
        for detail in DETAILS:
            body = self._body(plan=plan, phase=phase, record=record, full=detail.full,
                              rows=detail.rows, **context)
            if len(body) <= COMMENT_LIMIT:
                return body
        return self.brief(record)

    def _body(self, *, plan: Plan, phase: str, record: ResultRecord, **context: Any) -> str:
        values: dict[str, Any] = {
            "marker": COMMENT_MARKER, "plan": plan, "phase": phase, "run_url": self.run_url,
            "outcome": "", "mirrored": [], "refused": [], "failed": [], "deferred": [],
            "resume_after": "", "any_denied": False,
            "allowlist_url": self.allowlist_url, "example_pattern": "", "suggestion": None,
            "attempts": 0, "mirror_credentials": False, "cap": None, "title": "", "notes": {},
            "addresses": {}, "size": "", "full": 0, "rows": 0, "notes_shown": NOTES_SHOWN,
        }
        values.update(context)
        body = render("comment.md.j2", self.language, secrets=self.secrets, **values).rstrip()
        return f"{body}\n{record.render()}\n"


def _not_there(plan: Plan, failed: Sequence[ImageOutcome]) -> list[PlannedImage]:
    """The allowed images whose upstream answered that it has no such image (a missing repository
    on Docker Hub is a refusal): their suggestion (`:latest` for `:lastest`) is for them alone."""
    missing = {str(r.source) for r in failed
               if r.error and r.error.kind in {ErrorKind.NOT_FOUND, ErrorKind.UNAUTHORIZED}}
    return [image for image in plan.allowed if str(image.source) in missing]


def _for_people(result: ImageOutcome, plan: Plan) -> list[str]:
    """The addresses that serve `result`, the form the user wrote first (bot/flows/plan.py)."""
    serving = [str(a) for a in result.addresses]
    planned = next((i for i in plan.allowed if str(i.source) == str(result.source)), None)
    order = [str(a) for a in planned.addresses_for_people] if planned else []
    return sorted(serving, key=lambda a: order.index(a) if a in order else len(order))
