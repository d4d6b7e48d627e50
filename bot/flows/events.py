"""GitHub events -> the behaviour that handles them: a route table, as bedevere's router.

Rule: an event is handled only when it is about an issue (not a pull request) that carries the
request label, was opened by a person and is not locked. Then (event, action) picks the
behaviour: a request is processed when its issue is opened, reopened, labelled with the request
label, or edited so that the request itself changed; a comment whose first line is `/retry`,
written by a person, re-runs it (the handler checks who may retry: it has the forge). Everything
else is ignored without a single write. Payloads are untrusted: one of the wrong shape is a
configuration error, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.errors import ConfigError
from bot.forge.protocol import IssueSnapshot
from bot.records.labels import Labels
from bot.request.title import parse_request

RETRY_COMMAND = "/retry"


class Behaviour(StrEnum):
    REQUEST = "request"  # plan, sync and report the issue's request
    RETRY = "retry"  # the same, asked for by a comment


@dataclass(frozen=True)
class Event:
    name: str
    action: str
    issue: IssueSnapshot
    sender: str = ""
    sender_is_bot: bool = False
    comment_body: str | None = None
    label: str | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, name: str, payload: object) -> Event | None:
        """The event, or None when it is not about an issue; ConfigError when malformed."""
        if not isinstance(payload, dict):
            raise ConfigError("the event file is not a JSON object; GITHUB_EVENT_PATH must name "
                              "the event payload GitHub Actions writes")
        if "issue" not in payload:
            return None
        try:
            comment = payload.get("comment") or {}
            actor = comment.get("user") or payload.get("sender") or {}
            return cls(
                name=name, action=str(payload.get("action") or ""),
                issue=IssueSnapshot.from_payload(payload["issue"]),
                sender=str(actor.get("login") or ""), sender_is_bot=actor.get("type") == "Bot",
                comment_body=str(comment.get("body") or "") if comment else None,
                label=(payload.get("label") or {}).get("name"),
                changes=dict(payload.get("changes") or {}),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"the event payload does not have GitHub's shape ({type(error).__name__}:"
                              f" {str(error)[:80]}); GITHUB_EVENT_PATH must name the payload GitHub "
                              "Actions writes for issues or issue_comment") from error


@dataclass(frozen=True)
class Route:
    """What to do with an event: a behaviour, or None and the reason it needs nothing."""

    behaviour: Behaviour | None
    reason: str = ""


@dataclass(frozen=True)
class Reading:
    """How titles are read: this mirror's own prefixes and other mirrors' (see bot/request)."""

    own_prefixes: Sequence[str]
    other_mirrors: Mapping[str, str]


def _was(event: Event, field_name: str, now: str) -> str:
    """A field's value before the edit (`changes.<field>.from`), or its value now."""
    change = event.changes.get(field_name)
    return str(change.get("from", now)) if isinstance(change, dict) else now


def _request_changed(event: Event, reading: Reading) -> bool:
    issue = event.issue
    old_title, old_body = _was(event, "title", issue.title), _was(event, "body", issue.body)
    before = parse_request(old_title, old_body, reading.own_prefixes,
                           mirror_prefixes=reading.other_mirrors)
    after = parse_request(issue.title, issue.body, reading.own_prefixes,
                          mirror_prefixes=reading.other_mirrors)
    return (before.images, before.platforms) != (after.images, after.platforms)


def _opened(event: Event, labels: Labels, reading: Reading) -> Route:
    return Route(Behaviour.REQUEST)


def _labeled(event: Event, labels: Labels, reading: Reading) -> Route:
    if event.label != labels.request:
        return Route(None, "another label was added")
    return Route(Behaviour.REQUEST)


def _edited(event: Event, labels: Labels, reading: Reading) -> Route:
    if not _request_changed(event, reading):
        return Route(None, "the edit did not change the request")
    return Route(Behaviour.REQUEST)


def _comment(event: Event, labels: Labels, reading: Reading) -> Route:
    if event.sender_is_bot:
        return Route(None, "comments by bots are ignored")
    if (event.comment_body or "").strip().splitlines()[:1] != [RETRY_COMMAND]:
        return Route(None, "the comment is not /retry")
    return Route(Behaviour.RETRY)


RouteRule = Callable[[Event, Labels, Reading], Route]
ROUTES: dict[tuple[str, str], RouteRule] = {
    ("issues", "opened"): _opened,
    ("issues", "reopened"): _opened,
    ("issues", "labeled"): _labeled,
    ("issues", "edited"): _edited,
    ("issue_comment", "created"): _comment,
}


def route(event: Event, labels: Labels, own_prefixes: Sequence[str],
          other_mirrors: Mapping[str, str]) -> Route:
    """Which behaviour handles `event`, or why none does (pure). The prefixes are this
    mirror's own and other mirrors' (Config.own_prefixes, Config.other_mirrors)."""
    issue = event.issue
    if issue.is_pull_request:
        return Route(None, "pull requests are not image requests")
    if labels.request not in issue.labels:
        return Route(None, f"issue #{issue.number} does not carry the '{labels.request}' label")
    if issue.author_is_bot:
        return Route(None, f"issue #{issue.number} was opened by a bot")
    if issue.locked:
        return Route(None, f"issue #{issue.number} is locked")
    rule = ROUTES.get((event.name, event.action))
    if rule is None:
        return Route(None, f"{event.name or 'unnamed'}.{event.action or 'unnamed'} events need no "
                           "action")
    return rule(event, labels, Reading(own_prefixes, other_mirrors))
