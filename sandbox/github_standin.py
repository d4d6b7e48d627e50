"""A GitHub REST stand-in over real HTTP: issues, comments, labels, permissions, search.

Its JSON follows GitHub's REST shapes (the fields PyGithub reads), it records every request so
tests can count API calls, and it can be told to fail the next requests for fault tests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.http_server import QuietHandler, serving

LABEL_COLORS = {"sync image": "0e8a16"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str, kind: str = "User") -> dict[str, Any]:
    uid = abs(hash(login)) % 10**7
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "type": kind, "site_admin": False,
            "avatar_url": f"https://avatars.example/u/{uid}", "url": f"/users/{login}",
            "html_url": f"https://github.com/{login}"}


@dataclass
class Fault:
    """Answer the next matching request with `status` (after `delay` seconds, if set), or,
    with `status=0`, let it through after the delay (a slow answer)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path_contains: str = ""
    delay: float = 0.0
    message: str = "injected fault"


@dataclass
class GitHubStandIn:
    repository: str = "acme/mirror"
    token: str = "ghs_fake_token_for_tests"
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    bot_login: str = "github-actions[bot]"
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1000, 10**9)))

    # -- test-side helpers --------------------------------------------------------------------

    def add_issue(self, title: str, body: str = "", *, author: str = "alice",
                  labels: tuple[str, ...] = ("sync image",), author_type: str = "User",
                  locked: bool = False, created_at: str | None = None) -> dict[str, Any]:
        with self._lock:
            number = len(self.issues) + 1
            api = f"{self.base_url}/repos/{self.repository}/issues/{number}"
            issue = {
                "id": next(self._ids), "node_id": f"I_{number}", "number": number,
                "url": api, "repository_url": f"{self.base_url}/repos/{self.repository}",
                "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments",
                "events_url": f"{api}/events",
                "html_url": f"https://github.com/{self.repository}/issues/{number}",
                "title": title, "body": body, "user": _user(author, author_type),
                "labels": [self._label(name) for name in labels], "state": "open",
                "state_reason": None, "locked": locked, "active_lock_reason": None,
                "assignee": None, "assignees": [], "milestone": None, "comments": 0,
                "created_at": created_at or _now(), "updated_at": created_at or _now(),
                "closed_at": None, "author_association": "NONE", "reactions": {"total_count": 0},
            }
            self.issues[number] = issue
            return json.loads(json.dumps(issue))

    def event(self, action: str, number: int, **extra: Any) -> dict[str, Any]:
        """A webhook payload as GitHub sends it (a snapshot of the issue now)."""
        issue = json.loads(json.dumps(self.issues[number]))
        payload = {"action": action, "issue": issue,
                   "repository": {"full_name": self.repository, "name": self.repository.split("/")[1],
                                  "owner": _user(self.repository.split("/")[0], "Organization")},
                   "sender": issue["user"]}
        payload.update(extra)
        return payload

    def add_bot_comment(self, number: int, body: str) -> dict[str, Any]:
        with self._lock:
            return self._add_comment(number, body, self.bot_login)

    def comment_event(self, number: int, body: str, author: str) -> dict[str, Any]:
        comment = self._add_comment(number, body, author)
        payload = self.event("created", number, comment=comment)
        payload["sender"] = comment["user"]
        return payload

    def bot_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values()
                if c["issue_number"] == number and c["user"]["login"] == self.bot_login]

    def writes(self) -> list[tuple[str, str]]:
        return [entry for entry in self.log if entry[0] in {"POST", "PATCH", "PUT", "DELETE"}]

    def reset_log(self) -> None:
        self.log.clear()

    # -- state --------------------------------------------------------------------------------

    @staticmethod
    def _label(name: str) -> dict[str, Any]:
        return {"id": abs(hash(name)) % 10**6, "node_id": f"L_{name}", "url": f"/labels/{name}",
                "name": name, "color": LABEL_COLORS.get(name, "ededed"), "default": False,
                "description": None}

    def _add_comment(self, number: int, body: str, author: str) -> dict[str, Any]:
        comment_id = next(self._ids)
        issue_url = f"{self.base_url}/repos/{self.repository}/issues/{number}"
        comment = {
            "id": comment_id, "node_id": f"IC_{comment_id}",
            "url": f"{self.base_url}/repos/{self.repository}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{self.repository}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": issue_url, "body": body,
            "user": _user(author, "Bot" if author.endswith("[bot]") else "User"),
            "created_at": _now(), "updated_at": _now(), "author_association": "NONE",
            "issue_number": number,
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
                headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        url = urlsplit(raw_path)
        path, query = url.path, parse_qs(url.query)
        fault = self._take_fault(method, path)
        if fault and fault.delay:
            time.sleep(fault.delay)  # the fault itself: an answer slower than the client waits
        with self._lock:
            self.log.append((method, path))
            if fault and fault.status:
                return fault.status, {"message": fault.message}, fault.headers
            if headers.get("authorization") != f"token {self.token}" and \
                    headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"message": "Bad credentials"}, {}
            return self._route(method, path, query, body or {})

    def _route(self, method: str, path: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        repo = re.escape(self.repository)
        if m := re.fullmatch(rf"/repos/{repo}/issues/(\d+)", path):
            issue = self.issues.get(int(m[1]))
            if issue is None:
                return 404, {"message": "Not Found"}, {}
            if method == "PATCH":
                if "labels" in body:
                    issue["labels"] = [self._label(n) for n in body["labels"]]
                if "state" in body:
                    issue["state"] = body["state"]
                    issue["closed_at"] = _now() if body["state"] == "closed" else None
                    issue["state_reason"] = body.get("state_reason") or (
                        "reopened" if body["state"] == "open" else "completed")
                issue["updated_at"] = _now()
            return 200, issue, {}
        if m := re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", path):
            number = int(m[1])
            if number not in self.issues:
                return 404, {"message": "Not Found"}, {}
            if method == "POST":
                return 201, self._add_comment(number, body["body"], self.bot_login), {}
            items = [c for c in self.comments.values() if c["issue_number"] == number]
            return 200, self._page(items, query), {}
        if path == f"/repos/{self.repository}/issues/comments" and method == "GET":
            items = sorted(self.comments.values(), key=lambda c: c["id"])
            return 200, self._page(items, query), {}
        if m := re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", path):
            comment = self.comments.get(int(m[1]))
            if comment is None:
                return 404, {"message": "Not Found"}, {}
            if method == "PATCH":
                comment["body"] = body["body"]
                comment["updated_at"] = _now()
            if method == "DELETE":
                del self.comments[comment["id"]]
                self.issues[comment["issue_number"]]["comments"] -= 1
                return 204, None, {}
            return 200, comment, {}
        if m := re.fullmatch(rf"/repos/{repo}/collaborators/([^/]+)/permission", path):
            permission = self.permissions.get(m[1], "read")
            return 200, {"permission": permission, "role_name": permission,
                         "user": _user(m[1])}, {}
        if path == f"/repos/{self.repository}/issues" and method == "GET":
            items = [i for i in self.issues.values() if self._matches(i, query)]
            items.sort(key=lambda i: i["number"], reverse=query.get("direction") != ["asc"])
            return 200, self._page(items, query), {}
        if path == "/search/issues":
            terms = query.get("q", [""])[0]
            author = re.search(r"author:(\S+)", terms)
            label = re.search(r'label:"([^"]+)"', terms)
            items = [i for i in self.issues.values() if i["state"] == "open"
                     and (not author or i["user"]["login"] == author[1])
                     and (not label or label[1] in {lab["name"] for lab in i["labels"]})]
            return 200, {"total_count": len(items), "incomplete_results": False,
                         "items": self._page(items, query)}, {}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}

    @staticmethod
    def _matches(issue: dict[str, Any], query: dict[str, list[str]]) -> bool:
        state = query.get("state", ["open"])[0]
        if state != "all" and issue["state"] != state:
            return False
        wanted = [w for w in query.get("labels", [""])[0].split(",") if w]
        names = {label["name"] for label in issue["labels"]}
        return all(w in names for w in wanted)

    @staticmethod
    def _page(items: list[Any], query: dict[str, list[str]]) -> list[Any]:
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        return items[(page - 1) * per_page : page * per_page]


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
