"""The issue tracker: what the flows need of it, and a local file-backed one for the demo.

Rule: the event payload is the first source of truth, so a handled issue costs few requests:
the bot's comment is looked up only when the payload says the issue has comments, and labels
and state are set together in one PATCH. The bot's comment is recognised by a hidden marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.errors import MirrorBotError
from bot.records import COMMENT_MARKER


class ForgeError(MirrorBotError):
    """The issue tracker failed after its retries; the request stays for the sweep."""


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
        return cls(
            number=int(issue["number"]),
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
    id: int
    body: str
    issue_number: int | None = None
    issue_url: str = ""


class Forge(Protocol):
    def find_bot_comment(self, issue: IssueSnapshot) -> BotComment | None: ...
    def bot_comments(self, issue: IssueSnapshot) -> list[BotComment]: ...
    def delete_comment(self, comment: BotComment) -> None: ...
    def create_comment(self, issue: IssueSnapshot, body: str) -> BotComment: ...
    def edit_comment(self, issue: IssueSnapshot, comment: BotComment, body: str) -> BotComment: ...
    def update_issue(self, issue: IssueSnapshot, labels: list[str], state: str | None,
                     state_reason: str | None) -> None: ...
    def permission(self, user: str) -> str: ...
    def open_requests_by(self, user: str, label: str) -> int: ...
    def open_request_issues(self, label: str) -> list[IssueSnapshot]: ...
    def all_bot_comments(self) -> Iterator[BotComment]: ...
    def rewrite_comment(self, comment_id: int, rewrite: Callable[[str], str]) -> None: ...


class LocalForge:
    """Records what would be written to GitHub in a folder (state.json) and prints comments."""

    def __init__(self, folder: Path, permissions: dict[str, str] | None = None,
                 echo: bool = True) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.permissions = permissions or {}
        self.echo = echo

    @property
    def _state_path(self) -> Path:
        return self.folder / "state.json"

    def _load(self) -> dict[str, Any]:
        if self._state_path.exists():
            return json.loads(self._state_path.read_text())
        return {"comments": {}, "issues": {}, "next_id": 1}

    def _save(self, state: dict[str, Any]) -> None:
        self._state_path.write_text(json.dumps(state, indent=2))

    def issue_state(self, number: int) -> dict[str, Any]:
        return self._load()["issues"].get(str(number), {})

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self._load()["comments"].values() if c["issue"] == number]

    def find_bot_comment(self, issue: IssueSnapshot) -> BotComment | None:
        found = self.bot_comments(issue)
        return found[0] if found else None

    def bot_comments(self, issue: IssueSnapshot) -> list[BotComment]:
        return [BotComment(c["id"], c["body"], issue.number) for c in self.comments_on(issue.number)
                if COMMENT_MARKER in c["body"]]

    def delete_comment(self, comment: BotComment) -> None:
        state = self._load()
        state["comments"].pop(str(comment.id), None)
        self._save(state)

    def create_comment(self, issue: IssueSnapshot, body: str) -> BotComment:
        state = self._load()
        comment_id = state["next_id"]
        state["next_id"] += 1
        state["comments"][str(comment_id)] = {"id": comment_id, "issue": issue.number, "body": body}
        self._save(state)
        self._show(issue, body)
        return BotComment(comment_id, body)

    def edit_comment(self, issue: IssueSnapshot, comment: BotComment, body: str) -> BotComment:
        state = self._load()
        state["comments"][str(comment.id)]["body"] = body
        self._save(state)
        self._show(issue, body)
        return BotComment(comment.id, body)

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

    def open_requests_by(self, user: str, label: str) -> int:
        return sum(1 for issue in self.open_request_issues(label) if issue.author == user)

    def add_issue(self, payload_issue: dict[str, Any]) -> None:
        """Record an issue (from an event payload) so sweep and index can list it."""
        data = self._load()
        data.setdefault("known", {})[str(payload_issue["number"])] = payload_issue
        self._save(data)

    def open_request_issues(self, label: str) -> list[IssueSnapshot]:
        data = self._load()
        snapshots = []
        for number, raw in sorted(data.get("known", {}).items(), key=lambda kv: int(kv[0])):
            recorded = data["issues"].get(number, {})
            labels = recorded.get("labels") or [lab["name"] for lab in raw.get("labels", [])]
            state = recorded.get("state") or raw.get("state", "open")
            comments = len(self.comments_on(int(number)))
            merged = {**raw, "labels": [{"name": n} for n in labels], "state": state,
                      "comments": comments}
            if state == "open" and label in labels:
                snapshots.append(IssueSnapshot.from_payload(merged))
        return snapshots

    def rewrite_comment(self, comment_id: int, rewrite: Callable[[str], str]) -> None:
        state = self._load()
        comment = state["comments"][str(comment_id)]
        comment["body"] = rewrite(comment["body"])
        self._save(state)

    def all_bot_comments(self) -> Iterator[BotComment]:
        for comment in self._load()["comments"].values():
            if COMMENT_MARKER in comment["body"]:
                yield BotComment(comment["id"], comment["body"], comment["issue"], "")

    def _show(self, issue: IssueSnapshot, body: str) -> None:
        if self.echo:
            print(f"--- comment on issue #{issue.number} ---\n{body}\n---")
