"""The issue tracker: what the flows need of it (the Forge protocol) and the trust rule.

Rule: only the bot's own words count. A comment is the bot's only if its author is the bot's
own login (`bot_login`) and its body starts with the comment marker (`is_bot_record`); every
listing returns only such comments, and the bot edits or deletes only comments it wrote.
The event payload is the first source of truth, so a handled issue costs few requests: the
bot's comment is looked up only when the payload says the issue has comments, and labels and
state are set together in one PATCH. A comment the tracker refuses as too long is a
`CommentTooLong` (nothing was written), whichever forge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import MirrorBotError
from bot.records.record import COMMENT_MARKER

# GITHUB_TOKEN writes as this login; a GitHub App installation writes as `<app-slug>[bot]`.
DEFAULT_BOT_LOGIN = "github-actions[bot]"


class ForgeError(MirrorBotError):
    """The issue tracker failed after its retries; the request stays for the sweep."""


# GitHub refuses a comment body longer than this (HTTP 422 "Body is too long").
MAX_COMMENT_LENGTH = 65536


class CommentTooLong(ForgeError):
    """The tracker refused a comment as too long: a shorter one is written instead."""


def is_bot_record(author: str, body: str, bot_login: str) -> bool:
    """The one trust rule: written by the bot's own login, and starting with its marker."""
    return bool(author) and author == bot_login and body.startswith(COMMENT_MARKER)


@dataclass(frozen=True)
class IssueSnapshot:
    """What the bot needs to know about an issue, read from an event payload or the API."""

    number: int
    title: str
    body: str
    author: str
    author_is_bot: bool
    labels: tuple[str, ...]
    state: str
    locked: bool
    comments: int
    html_url: str = ""
    created_at: str = ""
    is_pull_request: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_payload(cls, issue: dict[str, Any]) -> IssueSnapshot:
        user = issue.get("user") or {}
        number = issue["number"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError(f"issue number {str(number)[:20]!r} is not a positive whole number")
        return cls(
            number=number,
            title=str(issue.get("title") or ""),
            body=str(issue.get("body") or ""),
            author=str(user.get("login") or ""),
            author_is_bot=user.get("type") == "Bot",
            labels=tuple(str(label.get("name")) for label in issue.get("labels") or []),
            state=str(issue.get("state") or "open"),
            locked=bool(issue.get("locked")),
            comments=int(issue.get("comments") or 0),
            html_url=str(issue.get("html_url") or ""),
            created_at=str(issue.get("created_at") or ""),
            is_pull_request="pull_request" in issue,
            raw=issue,
        )


@dataclass(frozen=True)
class BotComment:
    """A comment the forge has checked to be the bot's own (see `is_bot_record`)."""

    id: int
    body: str
    issue_number: int | None = None
    issue_url: str = ""
    author: str = ""


@dataclass(frozen=True)
class OpenRequest:
    """An open request issue with the bot's comment on it (None: the bot has not written yet)."""

    issue: IssueSnapshot
    comment: BotComment | None


def refuse_foreign(comment_id: int, author: str, bot_login: str, action: str) -> None:
    """The bot changes only its own comments, whatever its token would allow."""
    if not author or author != bot_login:
        raise ForgeError(f"refused to {action} comment {comment_id}: it was written by "
                         f"{author or 'someone else'}, not by {bot_login}")


class Forge(Protocol):
    bot_login: str

    def find_bot_comment(self, issue: IssueSnapshot) -> BotComment | None: ...
    def bot_comments(self, issue: IssueSnapshot) -> list[BotComment]: ...
    def delete_comment(self, comment: BotComment) -> None: ...
    def create_comment(self, issue: IssueSnapshot, body: str) -> BotComment: ...
    def edit_comment(self, issue: IssueSnapshot, comment: BotComment, body: str) -> BotComment: ...
    def update_issue(self, issue: IssueSnapshot, labels: list[str], state: str | None,
                     state_reason: str | None) -> None: ...
    def permission(self, user: str) -> str: ...
    # The open issues with `label` that `user` opened before issue `before` (a lower number).
    def open_requests_by(self, user: str, label: str, before: int) -> int: ...
    def open_request_issues(self, label: str) -> list[IssueSnapshot]: ...
    def open_requests(self, label: str) -> list[OpenRequest]: ...
    def all_bot_comments(self, label: str | None = None) -> Iterator[BotComment]: ...
    def rewrite_comment(self, comment_id: int, rewrite: Callable[[str], str]) -> None: ...
    def has_label(self, name: str) -> bool: ...
