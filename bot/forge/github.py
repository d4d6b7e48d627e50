"""The issue tracker on GitHub, through PyGithub.

Rule: lists are read page by page from what the list answers carry, never completed item by
item (PyGithub's `raw_data` on a listed object costs one GET each): REST lists 100 items a
request, following GitHub's `Link: rel="next"`; the queue and the records come from GraphQL,
one query per 100 issues with their first comments (see bot/forge/queries.py). Only the bot's
own comments count (its login and its marker, `is_bot_record`), and the bot changes only
comments it wrote. The event payload is the first source of truth, so a handled issue costs
few requests. Every failure that survives PyGithub's retries becomes a one-line ForgeError.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from github import Auth, Github, GithubException, GithubRetry, UnknownObjectException
from github.Issue import Issue
from github.IssueComment import IssueComment

from bot.errors import ConfigError
from bot.forge.protocol import (
    DEFAULT_BOT_LOGIN,
    BotComment,
    CommentTooLong,
    ForgeError,
    IssueSnapshot,
    OpenRequest,
    is_bot_record,
    refuse_foreign,
)
from bot.forge.queries import (
    OPEN_REQUESTS,
    RECORDS,
    IssuePage,
    IssueRecord,
    comment_from_rest,
    expect_shape,
    read_issue_page,
)

RETRIED_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"})
PER_PAGE = 100


def _forge_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (GithubException, requests.RequestException, urllib3.exceptions.HTTPError) as error:
            status = getattr(error, "status", None)
            said = _what_github_said(error)
            raise ForgeError(f"GitHub API call {method.__name__} failed"
                             f"{f' (HTTP {status})' if status else ''}: {type(error).__name__}"
                             f"{f': {said}' if said else ''}") from error
    return wrapper


def _what_github_said(error: Exception) -> str:
    """The first line of GitHub's message (REST `message`, or GraphQL's first error)."""
    data = getattr(error, "data", None)
    errors = data.get("errors") if isinstance(data, dict) else None
    message = getattr(error, "message", None) or (
        errors[0].get("message") if isinstance(errors, list) and errors and
        isinstance(errors[0], dict) else None)
    lines = str(message or "").splitlines()
    return lines[0][:160] if lines else ""


@contextlib.contextmanager
def _refused_as_too_long(action: str) -> Iterator[None]:
    """GitHub's 422 for a comment body over 65,536 characters ("Body is too long (maximum is
    65536 characters)", in `errors`), as CommentTooLong; any other failure as it is."""
    try:
        yield
    except GithubException as error:
        data = error.data if isinstance(error.data, dict) else {}
        details = [str(e.get("message") or "") for e in data.get("errors") or []
                   if isinstance(e, dict)]
        too_long = next((d for d in details if "too long" in d.lower()), None)
        if error.status != 422 or too_long is None:
            raise
        raise CommentTooLong(f"GitHub refused to {action} the comment: {too_long[:160]}") \
            from error


class GitHubForge:
    """PyGithub over GitHub's REST and GraphQL APIs, as the bot's login (`bot_login`)."""

    def __init__(self, repository: str, token: str, base_url: str = "https://api.github.com",
                 *, bot_login: str = DEFAULT_BOT_LOGIN, retry_total: int = 5,
                 secondary_rate_wait: float = 60.0, seconds_between_writes: float | None = 1.0,
                 timeout: int = 30, trust_comment_count: bool = True, backoff: float = 1.0,
                 comments_per_issue: int = 10) -> None:
        self.repository = repository
        self.bot_login = bot_login
        # A first run may trust the payload's "comments: 0"; a re-run reuses the old payload.
        self.trust_comment_count = trust_comment_count
        # How many of an issue's first comments a GraphQL page carries: the bot comments first,
        # so more are read (over REST) only when these hold none of its.
        self.comments_per_issue = comments_per_issue
        options: dict[str, Any] = dict(
            base_url=base_url,
            auth=Auth.Token(token),
            # Writes are retried too (PATCH is idempotent; a POST retried after a lost answer can
            # leave a duplicate comment, which the handler folds away), and so is 429.
            retry=GithubRetry(total=retry_total, secondary_rate_wait=secondary_rate_wait,
                              backoff_factor=backoff,
                              allowed_methods=RETRIED_METHODS,
                              status_forcelist=[403, 429, *range(500, 600)]),
            seconds_between_requests=None,
            timeout=timeout,
            per_page=PER_PAGE,
            lazy=True,
        )
        self._github = Github(**options, seconds_between_writes=seconds_between_writes)
        # A GraphQL query is a POST but creates nothing: GitHub's spacing of content-creating
        # requests does not apply, and PyGithub's would add a second to every page.
        self._reader = Github(**options, seconds_between_writes=None).requester
        self._requester = self._github.requester
        self._repo = self._github.get_repo(repository)  # lazy: no request
        self._api = f"{base_url.rstrip('/')}/repos/{repository}"

    def _issue(self, issue: IssueSnapshot) -> Issue:
        return self._github.create_from_raw_data(Issue, issue.raw)

    def _comment_object(self, comment: BotComment) -> IssueComment:
        url = f"{self._api}/issues/comments/{comment.id}"
        return self._github.create_from_raw_data(
            IssueComment, {"id": comment.id, "url": url, "body": comment.body})

    # -- one issue ------------------------------------------------------------------------------

    @_forge_errors
    def find_bot_comment(self, issue: IssueSnapshot) -> BotComment | None:
        if issue.comments == 0 and self.trust_comment_count:
            return None
        return next(self._bot_comments_on(issue.number), None)

    @_forge_errors
    def bot_comments(self, issue: IssueSnapshot) -> list[BotComment]:
        """The bot's comments on the issue, oldest first (normally exactly one)."""
        return list(self._bot_comments_on(issue.number))

    def _bot_comments_on(self, number: int) -> Iterator[BotComment]:
        """Read lazily, page by page: a caller that needs only the oldest stops early."""
        for page in self._pages(f"{self._api}/issues/{number}/comments", {}):
            for item in page:
                comment = comment_from_rest(item, self.bot_login)
                if comment is not None:
                    yield comment

    @_forge_errors
    def delete_comment(self, comment: BotComment) -> None:
        refuse_foreign(comment.id, comment.author, self.bot_login, "delete")
        self._comment_object(comment).delete()

    @_forge_errors
    def create_comment(self, issue: IssueSnapshot, body: str) -> BotComment:
        with _refused_as_too_long("create"):
            created = self._issue(issue).create_comment(body)
        author = created.user.login if created.user else ""
        if author != self.bot_login:
            created.delete()  # a comment nobody would ever trust must not stay behind
            raise ConfigError(f"this token comments as {author!r}, not as {self.bot_login!r}: set "
                              f"MIRROR_BOT_LOGIN={author} (the bot trusts only its own comments)")
        return BotComment(created.id, created.body, issue.number, issue.html_url, author)

    @_forge_errors
    def edit_comment(self, issue: IssueSnapshot, comment: BotComment, body: str) -> BotComment:
        # The author came from GitHub with the comment, and a comment's author never changes.
        refuse_foreign(comment.id, comment.author, self.bot_login, "edit")
        with _refused_as_too_long("edit"):
            self._comment_object(comment).edit(body)
        return BotComment(comment.id, body, issue.number, comment.issue_url, comment.author)

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
    def rewrite_comment(self, comment_id: int, rewrite: Callable[[str], str]) -> None:
        """Rewrite the bot's comment from its text as it is now: one GET, one PATCH."""
        comment = IssueComment(self._requester, url=f"{self._api}/issues/comments/{comment_id}")
        comment.complete()
        author = comment.user.login if comment.user else ""
        if not is_bot_record(author, comment.body or "", self.bot_login):
            raise ForgeError(f"refused to rewrite comment {comment_id}: it is not the bot's own "
                             f"record (written by {author or 'nobody known'})")
        comment.edit(rewrite(comment.body))

    # -- labels ---------------------------------------------------------------------------------

    @_forge_errors
    def has_label(self, name: str) -> bool:
        """Whether the repository has label `name`: one GET (`issues.getLabel`), a 404 is no.
        GitHub answers 404 for a repository the token cannot see, too: read its issues first."""
        try:
            self._reader.requestJsonAndCheck("GET", f"{self._api}/labels/{quote(name, safe='')}")
        except UnknownObjectException:
            return False
        return True

    # -- users ----------------------------------------------------------------------------------

    @_forge_errors
    def permission(self, user: str) -> str:
        return self._repo.get_collaborator_permission(user)

    @_forge_errors
    def open_requests_by(self, user: str, label: str, before: int) -> int:
        """The open issues with `label` that `user` opened before issue `before`: one REST list
        (`issues?creator=&labels=&state=open`, oldest first), a page more only while every
        issue of a full page is earlier. Not search: its index lags, so a burst of issues
        would not see one another."""
        parameters = {"creator": user, "labels": label, "state": "open", "sort": "created",
                      "direction": "asc"}
        count = 0
        with expect_shape("the issue list"):
            for page in self._pages(f"{self._api}/issues", parameters):
                issues = [IssueSnapshot.from_payload(item) for item in page]
                earlier = [i for i in issues if i.number < before and not i.is_pull_request]
                count += len(earlier)
                if len(page) < PER_PAGE or any(i.number >= before for i in issues):
                    break
        return count

    # -- lists ----------------------------------------------------------------------------------

    @_forge_errors
    def open_request_issues(self, label: str) -> list[IssueSnapshot]:
        """Open issues with the label, oldest first: one request per 100 issues."""
        return self._labelled_issues(label, "open")

    @_forge_errors
    def issues_with_label(self, label: str) -> list[IssueSnapshot]:
        """Issues with the label in any state, oldest first: one request per 100 issues."""
        return self._labelled_issues(label, "all")

    def _labelled_issues(self, label: str, state: str) -> list[IssueSnapshot]:
        parameters = {"state": state, "labels": label, "sort": "created", "direction": "asc"}
        with expect_shape("the issue list"):
            snapshots = [IssueSnapshot.from_payload(item)
                         for page in self._pages(f"{self._api}/issues", parameters) for item in page]
        return [snapshot for snapshot in snapshots if not snapshot.is_pull_request]

    @_forge_errors
    def create_issue(self, title: str, body: str, labels: list[str]) -> IssueSnapshot:
        created = self._repo.create_issue(title, body, labels=labels)
        author = created.user.login if created.user else ""
        if author != self.bot_login:
            raise ConfigError(f"this token opens issues as {author!r}, not as {self.bot_login!r}: "
                              f"set MIRROR_BOT_LOGIN={author} (the bot trusts only its own words)")
        return IssueSnapshot.from_payload(created.raw_data)

    @_forge_errors
    def lock_issue(self, issue: IssueSnapshot) -> None:
        """Only collaborators may comment on a locked issue (one PUT; GitHub answers 204)."""
        self._issue(issue).lock("resolved")

    @_forge_errors
    def open_requests(self, label: str) -> list[OpenRequest]:
        """Each open request issue, oldest first, with the bot's comment on it.

        One GraphQL query per 100 issues (2 points); one REST request more per 100 comments
        only for an issue whose first `comments_per_issue` comments hold none of the bot's.
        """
        found = []
        for page in self._issue_pages(OPEN_REQUESTS, {"labels": [label]}):
            for record in page.issues:
                if record.snapshot is None:
                    raise ForgeError(f"GitHub's answer lacks issue #{record.number}'s details")
                found.append(OpenRequest(record.snapshot, self._oldest_bot_comment(record)))
        return found

    @_forge_errors
    def all_bot_comments(self, label: str | None = None) -> Iterator[BotComment]:
        """The bot's comment on each issue (its oldest, the one it keeps), oldest issue first.

        One GraphQL query per 100 issues (1 point); `label` narrows the search to the issues
        that carry it (the bot writes only on those).
        """
        found: list[BotComment] = []
        for page in self._issue_pages(RECORDS, {"labels": [label] if label else None}):
            found.extend(filter(None, map(self._oldest_bot_comment, page.issues)))
        return iter(found)

    def _oldest_bot_comment(self, record: IssueRecord) -> BotComment | None:
        if record.comment is None and record.more_comments:
            return next(self._bot_comments_on(record.number), None)
        return record.comment

    def _issue_pages(self, query: str, variables: dict[str, Any]) -> Iterator[IssuePage]:
        owner, name = self.repository.split("/", 1)
        variables = {**variables, "owner": owner, "name": name,
                     "comments": self.comments_per_issue, "after": None}
        while True:
            _, answer = self._reader.graphql_query(query, variables)
            page = read_issue_page(answer, self._api, self.bot_login)
            yield page
            if page.next_cursor is None:
                return
            variables["after"] = page.next_cursor

    def _pages(self, url: str, parameters: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """A REST list, one request per page of 100, following `Link: rel="next"`."""
        next_url: str | None = url
        query: dict[str, Any] | None = {**parameters, "per_page": PER_PAGE}
        while next_url:
            headers, data = self._requester.requestJsonAndCheck("GET", next_url, query)
            if not isinstance(data, list):
                raise ForgeError(f"GitHub answered {urlsplit(url).path} with "
                                 f"{type(data).__name__}, not a list")
            yield data
            next_url, query = self._next_page(headers), None  # the next link carries the query

    def _next_page(self, headers: dict[str, Any]) -> str | None:
        links = requests.utils.parse_header_links(str(headers.get("link") or ""))
        url = next((link["url"] for link in links if link.get("rel") == "next"), None)
        if url is not None and urlsplit(url).netloc != urlsplit(self._api).netloc:
            raise ForgeError(f"GitHub's next page points to another host: {urlsplit(url).netloc}")
        return url
