"""The issue tracker on GitHub, through PyGithub.

Rule: the event payload is the first source of truth, so a handled issue costs few requests:
objects are built from the payload instead of fetched, the bot's comment is looked up only when
the issue has comments, and labels and state are set together in one PATCH. Every failure that
survives PyGithub's retries becomes a ForgeError, never a crash.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3
from github import Auth, Github, GithubException, GithubRetry
from github.Issue import Issue
from github.IssueComment import IssueComment

from bot.forge import COMMENT_MARKER, BotComment, ForgeError, IssueSnapshot

RETRIED_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"})


def _forge_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (GithubException, requests.RequestException, urllib3.exceptions.HTTPError) as error:
            status = getattr(error, "status", None)
            raise ForgeError(f"GitHub API call {method.__name__} failed"
                             f"{f' (HTTP {status})' if status else ''}: {type(error).__name__}") from error
    return wrapper



class GitHubForge:
    """PyGithub over the REST API. Objects are built from the payload instead of fetched."""

    def __init__(self, repository: str, token: str, base_url: str = "https://api.github.com",
                 *, retry_total: int = 5, secondary_rate_wait: float = 60.0,
                 seconds_between_writes: float | None = 1.0, timeout: int = 30,
                 trust_comment_count: bool = True, backoff: float = 1.0) -> None:
        self.repository = repository
        # A first run may trust the payload's "comments: 0"; a re-run reuses the old payload.
        self.trust_comment_count = trust_comment_count
        self._github = Github(
            base_url=base_url,
            auth=Auth.Token(token),
            # Writes are retried too (PATCH is idempotent; a POST retried after a lost answer can
            # leave a duplicate comment, which the handler folds away), and so is 429.
            retry=GithubRetry(total=retry_total, secondary_rate_wait=secondary_rate_wait,
                              backoff_factor=backoff,
                              allowed_methods=RETRIED_METHODS,
                              status_forcelist=[403, 429, *range(500, 600)]),
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes,
            timeout=timeout,
            per_page=100,
            lazy=True,
        )
        self._repo = self._github.get_repo(repository)

    def _issue(self, issue: IssueSnapshot) -> Issue:
        return self._github.create_from_raw_data(Issue, issue.raw)

    @_forge_errors
    def find_bot_comment(self, issue: IssueSnapshot) -> BotComment | None:
        if issue.comments == 0 and self.trust_comment_count:
            return None
        found = self.bot_comments(issue)
        return found[0] if found else None

    @_forge_errors
    def bot_comments(self, issue: IssueSnapshot) -> list[BotComment]:
        """The bot's comments on the issue, oldest first (normally exactly one)."""
        return [BotComment(comment.id, comment.body, issue.number)
                for comment in self._issue(issue).get_comments()
                if COMMENT_MARKER in (comment.body or "")]

    @_forge_errors
    def delete_comment(self, comment: BotComment) -> None:
        self._comment_object(comment).delete()

    def _comment_object(self, comment: BotComment) -> IssueComment:
        url = f"{self._repo.url}/issues/comments/{comment.id}"
        return self._github.create_from_raw_data(
            IssueComment, {"id": comment.id, "url": url, "body": comment.body})

    @_forge_errors
    def create_comment(self, issue: IssueSnapshot, body: str) -> BotComment:
        comment = self._issue(issue).create_comment(body)
        return BotComment(comment.id, comment.body, issue.number)

    @_forge_errors
    def edit_comment(self, issue: IssueSnapshot, comment: BotComment, body: str) -> BotComment:
        self._comment_object(comment).edit(body)
        return BotComment(comment.id, body, issue.number)

    @_forge_errors
    def update_issue(self, issue: IssueSnapshot, labels: list[str], state: str | None,
                     state_reason: str | None) -> None:
        changes: dict[str, Any] = {"labels": labels}
        if state:
            changes["state"] = state
        if state_reason:
            changes["state_reason"] = state_reason
        self._issue(issue).edit(**changes)

    @_forge_errors
    def permission(self, user: str) -> str:
        return self._repo.get_collaborator_permission(user)

    @_forge_errors
    def open_requests_by(self, user: str, label: str) -> int:
        query = f'repo:{self.repository} is:issue is:open author:{user} label:"{label}"'
        return self._github.search_issues(query).totalCount

    @_forge_errors
    def open_request_issues(self, label: str) -> list[IssueSnapshot]:
        """Open issues with the label, oldest first: one request per 100 issues."""
        issues = self._repo.get_issues(state="open", labels=[label], sort="created",
                                       direction="asc")
        snapshots = (IssueSnapshot.from_payload(issue.raw_data) for issue in issues)
        return [snapshot for snapshot in snapshots if not snapshot.is_pull_request]

    @_forge_errors
    def rewrite_comment(self, comment_id: int, rewrite: Callable[[str], str]) -> None:
        comment = self._repo.get_issue_comment(comment_id)
        comment.edit(rewrite(comment.body))

    @_forge_errors
    def all_bot_comments(self) -> Iterator[BotComment]:
        """Every comment of the bot in the repository: one request per 100 comments."""
        return iter(list(self._all_bot_comments()))

    def _all_bot_comments(self) -> Iterator[BotComment]:
        for comment in self._repo.get_issues_comments(sort="created", direction="asc"):
            body = comment.raw_data.get("body") or ""
            if COMMENT_MARKER in body:
                issue_url = comment.raw_data.get("issue_url", "")
                number = int(issue_url.rsplit("/", 1)[-1]) if issue_url else None
                html = comment.raw_data.get("html_url", "").split("#", 1)[0]
                yield BotComment(comment.id, body, number, html)
