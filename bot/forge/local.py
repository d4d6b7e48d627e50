"""A local, file-backed issue tracker: the demo's and the tests' stand-in for GitHub.

Rule: it keeps the Forge contract exactly as the GitHub forge does (the same contract tests run
against both): only the bot's own comments count, the bot edits only its own, and what would
be written to GitHub is recorded in `state.json` (and echoed, for the demo).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot import timestamps
from bot.errors import ConfigError
from bot.forge.protocol import (
    DEFAULT_BOT_LOGIN,
    MAX_COMMENT_LENGTH,
    BotComment,
    CommentTooLong,
    ForgeError,
    IssueSnapshot,
    OpenRequest,
    is_bot_record,
    refuse_foreign,
)

MARKDOWN_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>])")


class LocalForge:
    """Records what would be written to GitHub in a folder (state.json) and prints comments.

    Every comment carries its author: the bot's own are written as `bot_login`; tests add
    other users' with `add_comment`.
    """

    def __init__(self, folder: Path, permissions: dict[str, str] | None = None,
                 echo: bool = True, bot_login: str = DEFAULT_BOT_LOGIN) -> None:
        self.folder = folder
        self.permissions = permissions or {}
        self.echo = echo
        self.bot_login = bot_login
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not os.access(self.folder, os.W_OK):
                raise PermissionError(errno.EACCES, "not writable")
        except OSError as error:
            raise ConfigError(f"--local-forge {folder}: cannot use it as a folder "
                              f"({error.strerror or error}); pass a writable folder") from None
        self._load()  # a corrupt state file is a configuration error now, not a crash later

    @property
    def _state_path(self) -> Path:
        return self.folder / "state.json"

    def _load(self) -> dict[str, Any]:
        if not self._state_path.exists():
            return {"comments": {}, "issues": {}, "next_id": 1}
        try:
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
            _check_state(state)
        except (OSError, ValueError) as error:
            raise ConfigError(f"--local-forge: {self._state_path} is unreadable ({error}); "
                              "remove it or point --local-forge at another folder") from None
        state.setdefault("issues", {})
        state.setdefault("next_id", 1)
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self._state_path.write_text(json.dumps(state, indent=2))

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        comments = self._load()["comments"].values()
        return sorted((c for c in comments if c["issue"] == number), key=lambda c: c["id"])

    def add_comment(self, number: int, body: str, author: str, issue_url: str = "") -> int:
        """Record a comment by anyone (a user, another bot, the bot itself); returns its id."""
        state = self._load()
        comment_id = state["next_id"]
        state["next_id"] += 1
        issue_url = issue_url or state.get("known", {}).get(str(number), {}).get("html_url", "")
        state["comments"][str(comment_id)] = {"id": comment_id, "issue": number, "body": body,
                                              "author": author, "issue_url": issue_url}
        self._save(state)
        return comment_id

    def _trusted(self, comment: dict[str, Any]) -> BotComment | None:
        author = str(comment.get("author") or "")
        if not is_bot_record(author, comment["body"], self.bot_login):
            return None
        return BotComment(comment["id"], comment["body"], comment["issue"],
                          str(comment.get("issue_url") or ""), author)

    def _own(self, state: dict[str, Any], comment: BotComment, action: str) -> dict[str, Any]:
        refuse_foreign(comment.id, comment.author, self.bot_login, action)
        stored = state["comments"].get(str(comment.id))
        if stored is None:
            raise ForgeError(f"cannot {action} comment {comment.id}: it does not exist")
        refuse_foreign(comment.id, str(stored.get("author") or ""), self.bot_login, action)
        return stored

    def find_bot_comment(self, issue: IssueSnapshot) -> BotComment | None:
        found = self.bot_comments(issue)
        return found[0] if found else None

    def bot_comments(self, issue: IssueSnapshot) -> list[BotComment]:
        """The bot's comments on the issue, oldest first (normally exactly one)."""
        trusted = (self._trusted(c) for c in self.comments_on(issue.number))
        return [comment for comment in trusted if comment is not None]

    def delete_comment(self, comment: BotComment) -> None:
        state = self._load()
        self._own(state, comment, "delete")
        del state["comments"][str(comment.id)]
        self._save(state)

    def create_comment(self, issue: IssueSnapshot, body: str) -> BotComment:
        _fits(body)
        comment_id = self.add_comment(issue.number, body, self.bot_login, issue.html_url)
        self._show(issue, body)
        return BotComment(comment_id, body, issue.number, issue.html_url, self.bot_login)

    def edit_comment(self, issue: IssueSnapshot, comment: BotComment, body: str) -> BotComment:
        _fits(body)
        state = self._load()
        self._own(state, comment, "edit")["body"] = body
        self._save(state)
        self._show(issue, body)
        return BotComment(comment.id, body, issue.number, comment.issue_url, self.bot_login)

    def update_issue(self, issue: IssueSnapshot, labels: list[str], state: str | None,
                     state_reason: str | None) -> None:
        data = self._load()
        state = state or issue.state
        data["issues"][str(issue.number)] = {"labels": labels, "state": state,
                                             "state_reason": state_reason}
        self._save(data)
        if self.echo:
            reason = f" ({state_reason})" if state_reason else ""
            print(f"--- issue #{issue.number}: labels {labels}, state {state}{reason}")

    def permission(self, user: str) -> str:
        return self.permissions.get(user, "read")

    def open_requests_by(self, user: str, label: str, before: int) -> int:
        return sum(1 for issue in self.open_request_issues(label)
                   if issue.author == user and issue.number < before)

    def add_issue(self, payload_issue: dict[str, Any]) -> None:
        """Record an issue (from an event payload) so sweep and index can list it."""
        data = self._load()
        data.setdefault("known", {})[str(payload_issue["number"])] = payload_issue
        self._save(data)

    def open_request_issues(self, label: str) -> list[IssueSnapshot]:
        """Open issues with the label, oldest first."""
        return [issue for issue in self.issues_with_label(label) if issue.state == "open"]

    def issues_with_label(self, label: str) -> list[IssueSnapshot]:  # any state, oldest first
        issues = _listed(self._load(), lambda number: len(self.comments_on(number)))
        return [IssueSnapshot.from_payload(i) for i in issues if {"name": label} in i["labels"]]

    def create_issue(self, title: str, body: str, labels: list[str]) -> IssueSnapshot:
        state = self._load()
        payload = _create(state, title, body, labels, self.bot_login)
        self._save(state)
        return IssueSnapshot.from_payload(payload)

    def lock_issue(self, issue: IssueSnapshot) -> None:
        state = self._load()
        state["known"][str(issue.number)]["locked"] = True
        self._save(state)

    def open_requests(self, label: str) -> list[OpenRequest]:
        """Each open request issue, oldest first, with the bot's comment on it."""
        return [OpenRequest(issue, self.find_bot_comment(issue))
                for issue in self.open_request_issues(label)]

    def rewrite_comment(self, comment_id: int, rewrite: Callable[[str], str]) -> None:
        """Rewrite the bot's comment from its current text (read now, not from a listing)."""
        state = self._load()
        stored = state["comments"].get(str(comment_id))
        if stored is None or self._trusted(stored) is None:
            raise ForgeError(f"refused to rewrite comment {comment_id}: it is not the bot's "
                             f"own record ({self.bot_login} with the comment marker)")
        stored["body"] = rewrite(stored["body"])
        self._save(state)

    def all_bot_comments(self, label: str | None = None) -> Iterator[BotComment]:
        """The bot's comment on each issue: its oldest, the one the bot keeps and edits.

        `label` may narrow where to look; every comment is local, so nothing is narrowed here.
        """
        del label
        seen: set[int] = set()
        for comment in sorted(self._load()["comments"].values(), key=lambda c: c["id"]):
            trusted = self._trusted(comment)
            if trusted is not None and comment["issue"] not in seen:
                seen.add(comment["issue"])
                yield trusted

    def has_label(self, name: str) -> bool:
        return _has_label(self._load(), name)

    def _show(self, issue: IssueSnapshot, body: str) -> None:
        if self.echo:
            # Shown as a person reads it on GitHub: Markdown's backslash escapes removed.
            shown = MARKDOWN_ESCAPE_RE.sub(r"\1", body)
            print(f"--- comment on issue #{issue.number} ---\n{shown}\n---")


def _check_state(state: object) -> None:
    """The shape LocalForge writes: ValueError naming the first thing that is not."""
    if not isinstance(state, dict) or not isinstance(state.get("comments"), dict):
        raise ValueError("not a local forge state")
    for key in ("issues", "known"):
        if not isinstance(state.get(key, {}), dict):
            raise ValueError(f"'{key}' is not a mapping")
    next_id = state.get("next_id", 1)
    if not isinstance(next_id, int) or isinstance(next_id, bool):
        raise ValueError("'next_id' is not a whole number")
    for comment in state["comments"].values():
        if not isinstance(comment, dict) or not isinstance(comment.get("id"), int) or \
                not isinstance(comment.get("issue"), int) or not isinstance(comment.get("body"), str):
            raise ValueError("a comment lacks its id, issue or body")


# The issues in the state file: GitHub payloads overlaid with what the bot set. An issue is kept
# as the payload it arrived with (an event's, or the one the bot created) and what the bot set
# later (labels, state) overlays it, so a listing shows each issue as GitHub would list it now;
# the repository's labels are those issues carry or the bot has set.

State = dict[str, Any]


def _listed(state: State, comment_count: Callable[[int], int]) -> list[dict[str, Any]]:
    """Every known issue as GitHub would list it now, oldest first."""
    found = []
    for number, raw in sorted(state.get("known", {}).items(), key=lambda kv: int(kv[0])):
        recorded = state["issues"].get(number, {})
        labels = recorded.get("labels") or [label["name"] for label in raw.get("labels", [])]
        found.append({**raw, "labels": [{"name": name} for name in labels],
                      "state": recorded.get("state") or raw.get("state", "open"),
                      "comments": comment_count(int(number))})
    return found


def _create(state: State, title: str, body: str, labels: list[str], author: str) -> dict[str, Any]:
    """A new issue by `author`, open and unlocked as GitHub creates one; returns its payload."""
    known = state.setdefault("known", {})
    number = max(map(int, known), default=0) + 1
    known[str(number)] = {
        "number": number, "title": title, "body": body, "state": "open", "locked": False,
        "user": {"login": author, "type": "Bot" if author.endswith("[bot]") else "User"},
        "labels": [{"name": name} for name in labels], "comments": 0,
        "created_at": timestamps.now_text()}
    return known[str(number)]


def _has_label(state: State, name: str) -> bool:
    """Whether the repository has label `name`: here, one a known issue carries or the bot has
    set (GitHub creates a label the first time it is set on an issue)."""
    carried = {label.get("name") for raw in state.get("known", {}).values()
               for label in raw.get("labels") or []}
    set_by_bot = {label for issue in state["issues"].values() for label in issue["labels"]}
    return name in carried | set_by_bot


def _fits(body: str) -> None:
    """GitHub's limit, kept here too: a flow that passes it fails the same way on both forges."""
    if len(body) > MAX_COMMENT_LENGTH:
        raise CommentTooLong(f"the comment is {len(body)} characters, more than "
                             f"{MAX_COMMENT_LENGTH}")
