"""The bot's GitHub GraphQL queries and the reading of GitHub's answers into forge values (pure).

Rule: a query reads a page of 100 issues, oldest first, each with its first comments, so the
queue and the records cost one query per 100 issues, not one request per issue. A comment
counts only if `is_bot_record` holds for its author's REST login: GraphQL names a GitHub App's
bot by its slug (`github-actions`, `__typename: Bot`) where REST says `github-actions[bot]`, and
`rest_login` maps one to the other, so a *user* whose login is the slug never passes for the bot.

Points (GitHub's formula: the requests each connection needs at its `first` limit, summed,
divided by 100): RECORDS costs 1 + 100 = 101 -> 1 point a page; OPEN_REQUESTS adds each
issue's labels, 1 + 100 + 100 = 201 -> 2 points a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.forge.protocol import BotComment, ForgeError, IssueSnapshot, is_bot_record

_QUERY = """
query($owner: String!, $name: String!, $labels: [String!], $after: String, $comments: Int!) {
  repository(owner: $owner, name: $name) {
    issues(first: 100, after: $after, labels: $labels, %(states)s
           orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        url%(details)s
        comments(first: $comments) {
          totalCount
          pageInfo { hasNextPage }
          nodes { fullDatabaseId body url author { __typename login } }
        }
      }
    }
  }
}
"""
_DETAILS = """
        title body state createdAt locked
        author { __typename login }
        labels(first: 100) { nodes { name } }"""

RECORDS = _QUERY % {"states": "", "details": ""}
OPEN_REQUESTS = _QUERY % {"states": "states: [OPEN],", "details": _DETAILS}


@dataclass(frozen=True)
class IssueRecord:
    """One issue of a page: the bot's oldest comment among those the page carried."""

    number: int
    snapshot: IssueSnapshot | None  # with the issue's details (OPEN_REQUESTS only)
    comment: BotComment | None
    more_comments: bool  # the issue has comments past those the page carried


@dataclass(frozen=True)
class IssuePage:
    issues: list[IssueRecord]
    next_cursor: str | None


@contextmanager
def expect_shape(what: str) -> Iterator[None]:
    """An answer that is not shaped as GitHub documents it is a ForgeError, not a crash."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ForgeError(f"GitHub answered {what} in an unexpected shape "
                         f"({type(error).__name__}: {str(error)[:80]})") from error


def rest_login(actor: dict[str, Any] | None) -> str:
    """The REST spelling of a GraphQL actor's login; "" for a deleted account."""
    if not actor:
        return ""
    login = str(actor["login"])
    if actor.get("__typename") == "Bot" and not login.endswith("[bot]"):
        return f"{login}[bot]"
    return login


def comment_from_rest(item: dict[str, Any], bot_login: str) -> BotComment | None:
    """A REST issue comment as a BotComment if it is the bot's own record, else None."""
    with expect_shape("a comment"):
        author = str((item.get("user") or {}).get("login") or "")
        body = str(item.get("body") or "")
        if not is_bot_record(author, body, bot_login):
            return None
        issue_api = str(item.get("issue_url") or "")
        number = int(issue_api.rsplit("/", 1)[-1]) if issue_api else None
        html = str(item.get("html_url") or "").split("#", 1)[0]
        return BotComment(int(item["id"]), body, number, html, author)


def read_issue_page(answer: dict[str, Any], api_url: str, bot_login: str) -> IssuePage:
    """One answer to RECORDS or OPEN_REQUESTS."""
    with expect_shape("a GraphQL page of issues"):
        issues = answer["data"]["repository"]["issues"]
        records = [_record(node, api_url, bot_login) for node in issues["nodes"]]
        info = issues["pageInfo"]
        return IssuePage(records, str(info["endCursor"]) if info["hasNextPage"] else None)


def _record(node: dict[str, Any], api_url: str, bot_login: str) -> IssueRecord:
    number = int(node["number"])
    comments = node["comments"]
    return IssueRecord(
        number=number,
        snapshot=_snapshot(node, api_url) if "title" in node else None,
        comment=next((c for c in (_comment(n, number, str(node["url"]), bot_login)
                                  for n in comments["nodes"]) if c), None),
        more_comments=bool(comments["pageInfo"]["hasNextPage"]),
    )


def _comment(node: dict[str, Any], number: int, issue_url: str,
             bot_login: str) -> BotComment | None:
    author, body = rest_login(node.get("author")), str(node.get("body") or "")
    if not is_bot_record(author, body, bot_login):
        return None
    return BotComment(int(node["fullDatabaseId"]), body, number, issue_url, author)


def _snapshot(node: dict[str, Any], api_url: str) -> IssueSnapshot:
    """The issue as its REST payload would say it (PyGithub writes through `raw["url"]`)."""
    author = node.get("author")
    number = int(node["number"])
    return IssueSnapshot.from_payload({
        "url": f"{api_url}/issues/{number}", "number": number, "html_url": str(node["url"]),
        "title": node["title"], "body": node["body"], "state": str(node["state"]).lower(),
        "locked": bool(node["locked"]), "created_at": str(node["createdAt"]),
        "user": {"login": rest_login(author) or "ghost",
                 "type": "Bot" if (author or {}).get("__typename") == "Bot" else "User"},
        "labels": [{"name": str(label["name"])} for label in node["labels"]["nodes"]],
        "comments": int(node["comments"]["totalCount"]),
    })
