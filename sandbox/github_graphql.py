"""GitHub's GraphQL endpoint for the stand-in: a subset of GitHub's real schema, executed by
graphql-core over the stand-in's issues and comments, with each query's cost in points.

Every type, field and argument below is spelled as in GitHub's public schema (octokit/graphql-
schema, schema.graphql); fields the bot does not read are left out. Connections follow GitHub's
rules: `first` or `last` is required, at most 100, opaque cursors. Bots are `Bot` actors whose
login lacks REST's `[bot]` suffix (`github-actions`), as on GitHub.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
    execute,
    parse,
    validate,
)

SCHEMA = build_schema("""
scalar BigInt
scalar DateTime
scalar URI

enum IssueState { CLOSED OPEN }
enum OrderDirection { ASC DESC }
enum IssueOrderField { COMMENTS CREATED_AT UPDATED_AT }
input IssueOrder { direction: OrderDirection! field: IssueOrderField! }

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

interface Actor { avatarUrl(size: Int): URI! login: String! resourcePath: URI! url: URI! }
type User implements Actor { avatarUrl(size: Int): URI! login: String! resourcePath: URI! url: URI! }
type Bot implements Actor { avatarUrl(size: Int): URI! login: String! resourcePath: URI! url: URI! }

type Label { name: String! }
type LabelConnection { nodes: [Label] pageInfo: PageInfo! totalCount: Int! }

type IssueComment {
  author: Actor
  body: String!
  createdAt: DateTime!
  databaseId: Int
  fullDatabaseId: BigInt
  url: URI!
}
type IssueCommentConnection { nodes: [IssueComment] pageInfo: PageInfo! totalCount: Int! }

type Issue {
  author: Actor
  body: String!
  comments(after: String, before: String, first: Int, last: Int): IssueCommentConnection!
  createdAt: DateTime!
  labels(after: String, before: String, first: Int, last: Int): LabelConnection
  locked: Boolean!
  number: Int!
  state: IssueState!
  title: String!
  updatedAt: DateTime!
  url: URI!
}
type IssueConnection { nodes: [Issue] pageInfo: PageInfo! totalCount: Int! }

type Repository {
  issues(after: String, before: String, first: Int, labels: [String!], last: Int,
         orderBy: IssueOrder, states: [IssueState!]): IssueConnection!
  name: String!
}

type Query { repository(followRenames: Boolean = true, name: String!, owner: String!): Repository }
""")
MAX_PAGE = 100
INT32_MAX = 2**31 - 1


def answer(source: str, variables: dict[str, Any] | None,
           root: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """GitHub's answer to one query (errors included, as GitHub sends them with 200) and its
    cost in points."""
    try:
        document = parse(source)
    except GraphQLError as error:
        return {"errors": [_formatted(error)]}, 0
    errors = validate(SCHEMA, document)
    if errors:
        return {"errors": [_formatted(e) for e in errors]}, 0
    cost = points(document, variables or {})
    result = execute(SCHEMA, document, root_value=root, variable_values=variables)
    body: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
    if result.errors:  # type: ignore[union-attr]
        body["errors"] = [_formatted(e) for e in result.errors]  # type: ignore[union-attr]
    return body, cost


def _formatted(error: GraphQLError) -> dict[str, Any]:
    data = dict(error.formatted)
    data.update(error.extensions or {})  # GitHub puts "type" (e.g. NOT_FOUND) at the top
    data.pop("extensions", None)
    return data


def points(document: DocumentNode, variables: dict[str, Any]) -> int:
    """GitHub's cost of a query: for each connection, the requests it needs when every parent
    connection returns its `first`/`last` limit; summed, divided by 100, rounded, at least 1."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    total = 0

    def walk(selections: SelectionSetNode | None, parents: int) -> None:
        nonlocal total
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                limit = _page_limit(selection, variables)
                if limit is not None:
                    total += parents
                walk(selection.selection_set, parents * (limit or 1))
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, parents)
            elif isinstance(selection, FragmentSpreadNode):
                walk(fragments[selection.name.value].selection_set, parents)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, 1)
    return max(1, math.floor(total / 100 + 0.5))


def _page_limit(field: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value in {"first", "last"}:
            value = argument.value
            if isinstance(value, VariableNode):
                return int(variables.get(value.name.value) or 0)
            if isinstance(value, IntValueNode):
                return int(value.value)
    return None


def connection(items: list[Any], name: str, *, first: int | None = None,
               last: int | None = None, after: str | None = None, before: str | None = None,
               node: Callable[[Any], Any] = lambda item: item) -> dict[str, Any]:
    """One page of a connection, by GitHub's rules; `node` builds the page's nodes only."""
    if before is not None:
        raise GraphQLError(f"The stand-in does not page `{name}` backwards with `before`.")
    if first is None and last is None:
        raise GraphQLError(f"You must provide a `first` or `last` value to properly paginate "
                           f"the `{name}` connection.")
    for argument, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= MAX_PAGE:
            raise GraphQLError(f"Requesting {value} records on the `{name}` connection exceeds "
                               f"the `{argument}` limit of {MAX_PAGE} records.")
    start = _offset(after) if after else 0
    end = len(items) if first is None else min(len(items), start + first)
    if last is not None:
        start = max(start, end - last)
    window = [node(item) for item in items[start:end]]
    return {"nodes": window, "totalCount": len(items), "pageInfo": {
        "hasNextPage": end < len(items), "hasPreviousPage": start > 0,
        "startCursor": _cursor(start) if window else None,
        "endCursor": _cursor(end - 1) if window else None}}


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:v2:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1]) + 1
    except (ValueError, IndexError) as error:
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.") from error


def paged(items: list[Any], name: str) -> Callable[..., dict[str, Any]]:
    """A connection field's resolver (graphql-core calls it with the field's arguments)."""
    return lambda _info, **args: connection(items, name, **args)


def actor(user: dict[str, Any] | None) -> dict[str, Any] | None:
    """A REST user as GraphQL shows it: a GitHub App's bot is `Bot`, named without `[bot]`."""
    if not user:
        return None
    is_bot = user.get("type") == "Bot"
    login = str(user["login"]).removesuffix("[bot]") if is_bot else str(user["login"])
    path = f"/apps/{login}" if is_bot else f"/{login}"
    return {"__typename": "Bot" if is_bot else "User", "login": login, "resourcePath": path,
            "url": f"https://github.com{path}",
            "avatarUrl": lambda _info, size=None: f"https://avatars.example/{login}?s={size or 0}"}


def comment_node(comment: dict[str, Any]) -> dict[str, Any]:
    return {"author": actor(comment.get("user")), "body": comment["body"],
            "createdAt": comment["created_at"], "url": comment["html_url"],
            "databaseId": comment["id"] if comment["id"] <= INT32_MAX else None,
            "fullDatabaseId": str(comment["id"])}


def issue_node(issue: dict[str, Any], comments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"author": actor(issue.get("user")), "body": issue.get("body") or "",
            "createdAt": issue["created_at"], "updatedAt": issue["updated_at"],
            "locked": issue["locked"], "number": issue["number"],
            "state": str(issue["state"]).upper(), "title": issue["title"],
            "url": issue["html_url"],
            "labels": paged([{"name": label["name"]} for label in issue["labels"]], "labels"),
            "comments": paged([comment_node(c) for c in comments], "comments")}


def issues_resolver(issues: list[dict[str, Any]],
                    comments_of: Callable[[int], list[dict[str, Any]]]) -> Callable[..., Any]:
    """Repository.issues: filtered by state and label, ordered, then paged."""
    def resolve(_info: Any, labels: list[str] | None = None, states: list[str] | None = None,
                orderBy: dict[str, str] | None = None, **page: Any) -> dict[str, Any]:
        chosen = [i for i in issues
                  if (not states or str(i["state"]).upper() in states)
                  and (not labels or set(labels) & {lab["name"] for lab in i["labels"]})]
        order = orderBy or {"field": "CREATED_AT", "direction": "ASC"}
        key = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at",
               "COMMENTS": "comments"}[order["field"]]
        chosen.sort(key=lambda i: (i[key], i["number"]), reverse=order["direction"] == "DESC")
        return connection(chosen, "issues", **page,
                          node=lambda issue: issue_node(issue, comments_of(issue["number"])))
    return resolve
