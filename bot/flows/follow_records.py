"""Where `mirror-bot follow` records what it mirrors: the bot's comment on its tracking issues.

Rule: each subscription has one tracking issue, titled `follow: <image>`, labelled with the
follow label (never the request label, so the request workflow and the sweep never act on it),
opened by the bot, closed and locked (only collaborators can comment). The record is the bot's
one comment on it, an ordinary `ResultRecord` (outcome mirrored) whose images are the tags the
subscription keeps mirrored, so the index, the status page and resync read it like a request's.
A tracking issue counts only when the bot's own login opened it — anyone can open an issue with
that title — and only the bot's own comment on it counts (the forge's trust rule). The record
is rewritten only when its images change, so a run with nothing new writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from bot import timestamps
from bot.forge.protocol import BotComment, Forge, IssueSnapshot
from bot.image import reference
from bot.records import record as records
from bot.records.record import COMMENT_MARKER, Outcome, Phase, RecordedImage, RecordError, ResultRecord
from bot.render import render

FOLLOW_LABEL = "sync image follow"
TITLE_PREFIX = "follow: "
TEMPLATE = "follow.md.j2"
GITHUB_COMMENT_LIMIT = 65536  # characters; GitHub refuses a longer comment (422)


class TrackingForge(Forge, Protocol):
    """What follow needs of a forge beyond the request flows' needs."""

    def issues_with_label(self, label: str) -> list[IssueSnapshot]: ...
    def create_issue(self, title: str, body: str, labels: list[str]) -> IssueSnapshot: ...
    def lock_issue(self, issue: IssueSnapshot) -> None: ...


@dataclass(frozen=True)
class Tracking:
    """A subscription's tracking issue, with the bot's comment and the record in it."""

    issue: IssueSnapshot
    comment: BotComment | None = None
    record: ResultRecord | None = None

    @property
    def image(self) -> str:
        return self.issue.title.removeprefix(TITLE_PREFIX)

    @property
    def images(self) -> tuple[RecordedImage, ...]:
        return self.record.images if self.record else ()


def title_of(image: str) -> str:
    return f"{TITLE_PREFIX}{image}"


def read_tracking(forge: TrackingForge, log: TextIO) -> dict[str, Tracking]:
    """Each subscribed image's tracking issue (the oldest the bot opened), with its record.

    One REST request per 100 follow issues and one GraphQL query per 100 for the comments.
    """
    issues = [issue for issue in forge.issues_with_label(FOLLOW_LABEL)
              if issue.author == forge.bot_login and issue.title.startswith(TITLE_PREFIX)
              and not issue.is_pull_request]
    comments = {c.issue_number: c for c in forge.all_bot_comments(FOLLOW_LABEL)}
    found: dict[str, Tracking] = {}
    for issue in sorted(issues, key=lambda i: i.number):  # two alike: the oldest counts
        image = issue.title.removeprefix(TITLE_PREFIX)
        if image not in found:
            comment = comments.get(issue.number)
            found[image] = Tracking(issue, comment, _record(issue, comment, log))
    return found


def _record(issue: IssueSnapshot, comment: BotComment | None, log: TextIO) -> ResultRecord | None:
    if comment is None:
        return None
    try:
        record = records.read(comment.body)
        if record is not None and record.issue != issue.number:
            raise RecordError(f"it names issue #{record.issue}")
    except RecordError as error:
        print(f"mirror-bot: follow will rewrite the record on issue #{issue.number} "
              f"({issue.title[:200]}): {error}", file=log)
        return None
    return record


@dataclass(frozen=True)
class RecordWriter:
    """Renders and writes a tracking issue's comment; `secrets` never reach it."""

    forge: TrackingForge
    language: str = "en"
    secrets: Iterable[str] = ()  # the run's secret set (bot/redaction.py's Secrets)

    def write(self, image: str, tracking: Tracking | None,
              images: Sequence[RecordedImage]) -> int | None:
        """Record `images` for `image`; the tracking issue's number (None: nothing to record).

        Writes only when the recorded images change: nothing when a run found nothing new.
        """
        images = tuple(images)
        if tracking is None and not images:
            return None
        issue = tracking.issue if tracking else self._open(image)
        if tracking is None or tracking.record is None or tracking.comment is None or (
                tracking.record.outcome, tracking.images) != (Outcome.MIRRORED, images):
            record = ResultRecord(issue.number, Phase.RESULT, timestamps.now_text(),
                                  Outcome.MIRRORED, images=images)
            body = self._body(image, record)
            if tracking is not None and tracking.comment is not None:
                self.forge.edit_comment(issue, tracking.comment, body)
            else:
                self.forge.create_comment(issue, body)
        # A collaborator may have reopened or unlocked it: the bot keeps it closed and locked.
        # Closing sets the label too (GitHub drops labels it would not let the token set).
        if issue.state != "closed":
            labels = list(dict.fromkeys([*issue.labels, FOLLOW_LABEL]))
            self.forge.update_issue(issue, labels, "closed", "completed")
        if tracking is not None and not issue.locked:
            self.forge.lock_issue(issue)
        return issue.number

    def _open(self, image: str) -> IssueSnapshot:
        body = render(TEMPLATE, self.language, secrets=self.secrets, part="issue", image=image)
        issue = self.forge.create_issue(title_of(image), body, [FOLLOW_LABEL])
        self.forge.lock_issue(issue)  # before the bot's comment: nobody else's comes first
        return issue

    def _body(self, image: str, record: ResultRecord) -> str:
        rows = [(reference.parse(i.source).tag, i.target, i.digest) for i in record.images]
        body = self._render(image, record, rows)
        if len(body) > GITHUB_COMMENT_LIMIT:  # the record must fit: the table gives way
            body = self._render(image, record, [])
        return body

    def _render(self, image: str, record: ResultRecord, rows: list[tuple[str | None, str, str]]) -> str:
        text = render(TEMPLATE, self.language, secrets=self.secrets, part="comment",
                      marker=COMMENT_MARKER, image=image, rows=rows, count=len(record.images))
        return f"{text.rstrip()}\n{record.render()}\n"
