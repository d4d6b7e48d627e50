"""A GitHub API stand-in over real HTTP: issues, comments, labels, permissions, GraphQL.

It serves only real GitHub endpoints (each REST route is spelled as in octokit's generated
endpoint list, which is generated from GitHub's OpenAPI description), answers with GitHub's
JSON shapes, pages lists as GitHub does (`per_page` up to 100, `Link` headers with
`rel="next"`/`"last"`), and logs every request so tests can count API calls; GraphQL queries
are executed against a subset of GitHub's schema and their cost in points is logged too. It
can be told to fail the next requests for fault tests. A comment body over 65,536 characters is
refused with 422, in the words GitHub uses (github-comment#125, ai-ticket#51 quote them).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from sandbox import github_graphql
from sandbox.http_server import QuietHandler, serving

LABEL_COLORS = {"sync image": "0e8a16"}
LOCK_REASONS = ("off-topic", "too heated", "resolved", "spam")
MAX_PER_PAGE = 100
MAX_COMMENT = 65536  # characters: GitHub answers a longer comment body with 422
Answer = tuple[int, Any, dict[str, str]]
Query = dict[str, list[str]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _too_long(call: Call, limit: int, operation: str) -> Answer | None:
    """GitHub's answer to a comment body over `limit` characters, None for one that fits (the
    message names GitHub's own limit, whatever `limit` a test sets)."""
    if len(str((call.body or {}).get("body") or "")) <= limit:
        return None
    return 422, {"message": "Validation Failed", "errors": [{
        "resource": "IssueComment", "code": "unprocessable", "field": "data",
        "message": f"Body is too long (maximum is {MAX_COMMENT} characters)"}],
        "documentation_url": f"https://docs.github.com/rest/issues/comments#{operation}"}, {}


def _stable_id(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:3], "big")


@dataclass
class Fault:
    """Answer the next matching request with `status` (after `delay` seconds, if set), or,
    with `status=0`, let it through after the delay (a slow answer). The answer's body is
    `{"message": message}` unless `body` is given (a malformed answer, for instance)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path_contains: str = ""
    delay: float = 0.0
    message: str = "injected fault"
    body: Any = None


@dataclass(frozen=True)
class Call:
    """One request as a route handler sees it."""

    method: str
    path: str
    query: Query
    body: dict[str, Any]

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # as octokit spells it: "GET /repos/{owner}/{repo}/issues"
    pattern: re.Pattern[str]
    handler: Callable[..., Answer]


ROUTES: list[Route] = []


def route(method: str, template: str) -> Callable[[Callable[..., Answer]], Callable[..., Answer]]:
    """Register a handler for one of GitHub's endpoints (numbers and ids match digits only)."""
    def pattern_of(name: str) -> str:
        digits = name.endswith(("_number", "_id"))
        return rf"(?P<{name}>\d+)" if digits else rf"(?P<{name}>[^/]+)"

    regex = re.sub(r"\\\{(\w+)\\\}", lambda m: pattern_of(m[1]), re.escape(template))

    def register(handler: Callable[..., Answer]) -> Callable[..., Answer]:
        ROUTES.append(Route(method, f"{method} {template}", re.compile(regex), handler))
        return handler
    return register


@dataclass
class GitHubStandIn:
    repository: str = "acme/mirror"
    token: str = "ghs_fake_token_for_tests"
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)  # the repository's labels
    log: list[tuple[str, str]] = field(default_factory=list)
    graphql_points: list[int] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    bot_login: str = "github-actions[bot]"
    token_login: str | None = None  # who the token writes as (default: bot_login)
    max_comment: int = MAX_COMMENT  # longer bodies are refused with 422, as GitHub does
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1000, 10**12)))

    # -- test-side helpers --------------------------------------------------------------------

    def add_issue(self, title: str, body: str = "", *, author: str = "alice",
                  labels: tuple[str, ...] = ("sync image",), author_type: str = "User",
                  locked: bool = False, created_at: str | None = None,
                  state: str = "open") -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._add_issue(
                title, body, author=author, labels=labels, author_type=author_type,
                locked=locked, created_at=created_at, state=state)))

    def _add_issue(self, title: str, body: str, *, author: str, labels: tuple[str, ...],
                   author_type: str, locked: bool, created_at: str | None,
                   state: str) -> dict[str, Any]:
        number = len(self.issues) + 1
        api = f"{self._repo_url}/issues/{number}"
        issue = {
            "id": next(self._ids), "node_id": f"I_{number}", "number": number,
            "url": api, "repository_url": self._repo_url,
            "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"https://github.com/{self.repository}/issues/{number}",
            "title": title, "body": body, "user": self._user(author, author_type),
            "labels": [self._label(name) for name in labels], "state": state,
            "state_reason": None, "locked": locked, "active_lock_reason": None,
            "assignee": None, "assignees": [], "milestone": None, "comments": 0,
            "created_at": created_at or _now(), "updated_at": created_at or _now(),
            "closed_at": None if state == "open" else created_at or _now(),
            "author_association": "NONE", "reactions": {"total_count": 0},
        }
        self.issues[number] = issue
        self.labels.update(labels)
        return issue

    def add_label(self, name: str) -> None:
        """A label created in the repository's settings (on no issue yet)."""
        with self._lock:
            self.labels.add(name)

    def event(self, action: str, number: int, **extra: Any) -> dict[str, Any]:
        """A webhook payload as GitHub sends it (a snapshot of the issue now)."""
        issue = json.loads(json.dumps(self.issues[number]))
        payload = {"action": action, "issue": issue,
                   "repository": {"full_name": self.repository, "name": self.repository.split("/")[1],
                                  "owner": self._user(self.repository.split("/")[0], "Organization")},
                   "sender": issue["user"]}
        payload.update(extra)
        return payload

    def add_comment(self, number: int, body: str, author: str) -> dict[str, Any]:
        """A comment by anyone: a user, another app's bot (`name[bot]`), the bot itself."""
        with self._lock:
            return self._add_comment(number, body, author)

    def add_bot_comment(self, number: int, body: str) -> dict[str, Any]:
        return self.add_comment(number, body, self.bot_login)

    def comment_event(self, number: int, body: str, author: str) -> dict[str, Any]:
        comment = self.add_comment(number, body, author)
        payload = self.event("created", number, comment=comment)
        payload["sender"] = comment["user"]
        return payload

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if self._issue_of(c) == number]

    def bot_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments_on(number) if c["user"]["login"] == self.bot_login]

    def writes(self) -> list[tuple[str, str]]:
        return [entry for entry in self.log if entry[0] in {"POST", "PATCH", "PUT", "DELETE"}
                and entry[1] != "/graphql"]

    def reset_log(self) -> None:
        self.log.clear()
        self.graphql_points.clear()

    # -- state --------------------------------------------------------------------------------

    @property
    def _repo_url(self) -> str:
        return f"{self.base_url}/repos/{self.repository}"

    def _user(self, login: str, kind: str = "User") -> dict[str, Any]:
        uid = _stable_id(login)
        return {"login": login, "id": uid, "node_id": f"U_{uid}", "type": kind,
                "site_admin": False, "avatar_url": f"https://avatars.example/u/{uid}",
                "url": f"{self.base_url}/users/{login}", "html_url": f"https://github.com/{login}"}

    def _label(self, name: str) -> dict[str, Any]:
        return {"id": _stable_id(name), "node_id": f"L_{name}", "name": name,
                "url": f"{self._repo_url}/labels/{name}",
                "color": LABEL_COLORS.get(name, "ededed"), "default": False, "description": None}

    @staticmethod
    def _issue_of(comment: dict[str, Any]) -> int:
        return int(comment["issue_url"].rsplit("/", 1)[1])

    def _add_comment(self, number: int, body: str, author: str) -> dict[str, Any]:
        comment_id = next(self._ids)
        comment = {
            "id": comment_id, "node_id": f"IC_{comment_id}",
            "url": f"{self._repo_url}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{self.repository}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"{self._repo_url}/issues/{number}", "body": body,
            "user": self._user(author, "Bot" if author.endswith("[bot]") else "User"),
            "created_at": _now(), "updated_at": _now(), "author_association": "NONE",
            "performed_via_github_app": None, "reactions": {"total_count": 0},
        }
        self.comments[comment_id] = comment
        self.issues[number]["comments"] += 1
        return comment

    # -- HTTP ---------------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.method in {None, method}) and fault.path_contains in path:
                    self.faults.remove(fault)
                    return fault
        return None

    def respond(self, method: str, raw_path: str, body: dict[str, Any] | None,
                headers: dict[str, str]) -> Answer:
        url = urlsplit(raw_path)
        path, query = url.path, parse_qs(url.query)
        fault = self._take_fault(method, path)
        if fault and fault.delay:
            time.sleep(fault.delay)  # the fault itself: an answer slower than the client waits
        with self._lock:
            self.log.append((method, path))
            if fault and fault.status:
                answer = {"message": fault.message} if fault.body is None else fault.body
                return fault.status, answer, fault.headers
            if headers.get("authorization") not in {f"token {self.token}", f"Bearer {self.token}"}:
                return 401, {"message": "Bad credentials"}, {}
            if (method, path) == ("POST", "/graphql"):
                return self._graphql(body or {})
            for candidate in ROUTES:
                match = candidate.pattern.fullmatch(path)
                if match and candidate.method == method and self._is_ours(match.groupdict()):
                    params = {k: v for k, v in match.groupdict().items() if k not in {"owner", "repo"}}
                    return candidate.handler(self, Call(method, path, query, body or {}), **params)
            return 404, {"message": "Not Found",
                         "documentation_url": "https://docs.github.com/rest"}, {}

    def _is_ours(self, params: dict[str, str]) -> bool:
        return "owner" not in params or f"{params['owner']}/{params['repo']}" == self.repository

    def _page(self, items: list[Any], call: Call) -> tuple[list[Any], dict[str, str]]:
        """One page of a list, with GitHub's Link header (first, prev, next, last)."""
        per_page = max(1, min(MAX_PER_PAGE, int(call.arg("per_page", "30"))))
        page = max(1, int(call.arg("page", "1")))
        last = max(1, -(-len(items) // per_page))
        links = {"first": 1, "prev": page - 1, "next": page + 1, "last": last}
        wanted = {"first": page > 1, "prev": page > 1, "next": page < last, "last": page < last}

        def link(number: int) -> str:
            params = {k: v[0] for k, v in call.query.items()} | {"per_page": per_page, "page": number}
            return f"{self.base_url}{call.path}?{urlencode(params)}"

        header = ", ".join(f'<{link(n)}>; rel="{rel}"' for rel, n in links.items() if wanted[rel])
        return items[(page - 1) * per_page : page * per_page], {"Link": header} if header else {}

    def _graphql(self, body: dict[str, Any]) -> Answer:
        by_issue: dict[int, list[dict[str, Any]]] = {}
        for comment in sorted(self.comments.values(), key=lambda c: c["id"]):
            by_issue.setdefault(self._issue_of(comment), []).append(comment)
        repository = {"name": self.repository.split("/")[1], "issues": github_graphql.issues_resolver(
            list(self.issues.values()), lambda number: by_issue.get(number, []))}

        def find(_info: Any, owner: str, name: str, followRenames: bool = True) -> Any:
            if f"{owner}/{name}" != self.repository:
                raise github_graphql.GraphQLError(
                    f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                    extensions={"type": "NOT_FOUND"})
            return repository

        answer, cost = github_graphql.answer(str(body.get("query") or ""),
                                             body.get("variables"), {"repository": find})
        self.graphql_points.append(cost)
        return 200, answer, {"X-RateLimit-Resource": "graphql"}

    # -- REST endpoints (octokit's spelling) --------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}")
    def _get_repo(self, call: Call) -> Answer:
        owner, name = self.repository.split("/")
        return 200, {"id": _stable_id(self.repository), "name": name, "full_name": self.repository,
                     "owner": self._user(owner, "Organization"), "private": False,
                     "url": self._repo_url, "html_url": f"https://github.com/{self.repository}",
                     "has_issues": True}, {}

    @route("GET", "/repos/{owner}/{repo}/issues")
    def _list_issues(self, call: Call) -> Answer:
        """GitHub's filters: `state`, `labels` (comma-separated, all of them), `creator` (a
        login, in any case)."""
        state = call.arg("state", "open")
        wanted = {w for w in call.arg("labels", "").split(",") if w}
        creator = call.arg("creator").lower()
        items = [i for i in self.issues.values() if state in {"all", i["state"]}
                 and wanted <= {label["name"] for label in i["labels"]}
                 and creator in {"", i["user"]["login"].lower()}]
        key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[
            call.arg("sort", "created")]
        items.sort(key=lambda i: (i[key], i["number"]), reverse=call.arg("direction") != "asc")
        return 200, *self._page(items, call)

    @route("POST", "/repos/{owner}/{repo}/issues")
    def _create_issue(self, call: Call) -> Answer:
        """Opened as whoever the token belongs to; GitHub answers 422 without a title."""
        title = call.body.get("title")
        if not isinstance(title, str) or not title.strip():
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "Issue", "code": "missing_field", "field": "title"}]}, {}
        author = self.token_login or self.bot_login
        labels = tuple(n if isinstance(n, str) else n["name"] for n in call.body.get("labels") or ())
        issue = self._add_issue(title, str(call.body.get("body") or ""), author=author,
                                labels=labels, author_type="Bot" if author.endswith("[bot]")
                                else "User", locked=False, created_at=None, state="open")
        return 201, issue, {}

    @route("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/lock")
    def _lock_issue(self, call: Call, issue_number: str) -> Answer:
        issue = self.issues.get(int(issue_number))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        reason = call.body.get("lock_reason")
        if reason not in {None, *LOCK_REASONS}:
            return 422, {"message": "Validation Failed"}, {}
        issue["locked"], issue["active_lock_reason"] = True, reason
        issue["updated_at"] = _now()
        return 204, None, {}

    @route("GET", "/repos/{owner}/{repo}/issues/{issue_number}")
    @route("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}")
    def _issue(self, call: Call, issue_number: str) -> Answer:
        issue = self.issues.get(int(issue_number))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        if call.method == "PATCH":
            self._edit_issue(issue, call.body)
        return 200, issue, {}

    def _edit_issue(self, issue: dict[str, Any], changes: dict[str, Any]) -> None:
        if "labels" in changes:
            issue["labels"] = [self._label(n if isinstance(n, str) else n["name"])
                               for n in changes["labels"]]
            self.labels.update(label["name"] for label in issue["labels"])  # GitHub creates them
        if "state" in changes:
            issue["state"] = changes["state"]
            issue["closed_at"] = _now() if changes["state"] == "closed" else None
            issue["state_reason"] = changes.get("state_reason") or (
                "reopened" if changes["state"] == "open" else "completed")
        issue["updated_at"] = _now()

    @route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    @route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def _issue_comments(self, call: Call, issue_number: str) -> Answer:
        number = int(issue_number)
        if number not in self.issues:
            return 404, {"message": "Not Found"}, {}
        if call.method == "POST" and (
                too_long := _too_long(call, self.max_comment, "create-an-issue-comment")):
            return too_long
        if call.method == "POST":  # written as whoever the token belongs to
            author = self.token_login or self.bot_login
            return 201, self._add_comment(number, str(call.body["body"]), author), {}
        return 200, *self._page(sorted(self.comments_on(number), key=lambda c: c["id"]), call)

    @route("GET", "/repos/{owner}/{repo}/issues/comments")
    def _repo_comments(self, call: Call) -> Answer:
        items = sorted(self.comments.values(), key=lambda c: c["id"],
                       reverse=call.arg("direction") == "desc")
        return 200, *self._page(items, call)

    @route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    @route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    @route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def _comment(self, call: Call, comment_id: str) -> Answer:
        comment = self.comments.get(int(comment_id))
        if comment is None:
            return 404, {"message": "Not Found"}, {}
        if call.method == "PATCH" and (
                too_long := _too_long(call, self.max_comment, "update-an-issue-comment")):
            return too_long
        if call.method == "PATCH":  # a token with issues: write may edit anyone's comment
            comment["body"] = str(call.body["body"])
            comment["updated_at"] = _now()
        if call.method == "DELETE":
            del self.comments[comment["id"]]
            self.issues[self._issue_of(comment)]["comments"] -= 1
            return 204, None, {}
        return 200, comment, {}

    @route("GET", "/repos/{owner}/{repo}/labels/{name}")
    def _get_label(self, call: Call, name: str) -> Answer:
        if unquote(name) not in self.labels:
            return 404, {"message": "Not Found",
                         "documentation_url": "https://docs.github.com/rest/issues/labels#get-a-label"}, {}
        return 200, self._label(unquote(name)), {}

    @route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
    def _permission(self, call: Call, username: str) -> Answer:
        permission = self.permissions.get(username, "read")
        return 200, {"permission": permission, "role_name": permission,
                     "user": self._user(username)}, {}


@contextmanager
def serve(standin: GitHubStandIn) -> Iterator[GitHubStandIn]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, extra = standin.respond(self.command, self.path, body, headers)
            data = b"" if status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-RateLimit-Limit", "1000")
            self.send_header("X-RateLimit-Remaining", "999")
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    with serving(Handler) as port:
        standin.base_url = f"http://127.0.0.1:{port}"
        yield standin
