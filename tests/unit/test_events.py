"""The route table: which events reach which behaviour, and malformed payloads."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import ConfigError
from bot.flows.events import Behaviour, Event, route
from bot.records.labels import Labels
from bot.request.address import DEFAULT_MIRROR_PREFIXES

LABELS = Labels()


def payload(action: str = "opened", **issue: Any) -> dict[str, Any]:
    base = {"number": 1, "title": "nginx:1.27", "body": "", "user": {"login": "alice"},
            "labels": [{"name": "sync image"}], "state": "open", "locked": False, "comments": 0}
    base.update(issue)
    return {"action": action, "issue": base, "sender": {"login": "alice", "type": "User"}}


def routed(name: str, data: dict[str, Any]) -> Behaviour | None:
    event = Event.from_payload(name, data)
    assert event is not None
    return route(event, LABELS, (), DEFAULT_MIRROR_PREFIXES).behaviour


@pytest.mark.parametrize(("name", "data", "behaviour"), [
    ("issues", payload("opened"), Behaviour.REQUEST),
    ("issues", payload("reopened"), Behaviour.REQUEST),
    ("issues", {**payload("labeled"), "label": {"name": "sync image"}}, Behaviour.REQUEST),
    ("issues", {**payload("labeled"), "label": {"name": "question"}}, None),
    ("issues", {**payload("edited"), "changes": {"title": {"from": "redis:7"}}}, Behaviour.REQUEST),
    ("issues", {**payload("edited"), "changes": {"body": {"from": "old notes"}}}, None),
    ("issues", payload("closed"), None),
    ("issues", payload("opened", labels=[]), None),
    ("issues", payload("opened", locked=True), None),
    ("issues", payload("opened", user={"login": "x[bot]", "type": "Bot"}), None),
    ("issues", payload("opened", pull_request={}), None),
    ("issue_comment", {**payload("created"), "comment": {"body": "/retry", "user": {
        "login": "bob", "type": "User"}}}, Behaviour.RETRY),
    ("issue_comment", {**payload("created"), "comment": {"body": "please /retry", "user": {
        "login": "bob", "type": "User"}}}, None),
    ("issue_comment", {**payload("created"), "comment": {"body": "/retry", "user": {
        "login": "ci[bot]", "type": "Bot"}}}, None),
    ("issue_comment", {**payload("edited"), "comment": {"body": "/retry", "user": {
        "login": "bob", "type": "User"}}}, None),
    ("push", payload("opened"), None),
])
def test_routes(name: str, data: dict[str, Any], behaviour: Behaviour | None) -> None:
    assert routed(name, data) == behaviour


@pytest.mark.parametrize(("name", "reason"), [
    ("issues", "issues.transferred events need no action"),
    ("", "unnamed.transferred events need no action"),
])
def test_an_ignored_event_says_why_with_its_name(name: str, reason: str) -> None:
    event = Event.from_payload(name, payload("transferred"))
    assert event is not None
    assert route(event, LABELS, (), DEFAULT_MIRROR_PREFIXES).reason == reason


def test_a_payload_without_an_issue_is_not_ours() -> None:
    assert Event.from_payload("push", {"ref": "main"}) is None


@pytest.mark.parametrize("data", [
    [], "text", {"issue": "x"}, {"issue": {"number": "one"}}, {"issue": {}},
    {"issue": {"number": 1, "labels": "x"}}, {"issue": {"number": -3}},
    {"issue": {"number": True}}, {"issue": {"number": "7"}},
])
def test_malformed_payloads_are_configuration_errors(data: object) -> None:
    with pytest.raises(ConfigError):
        Event.from_payload("issues", data)


def test_an_edit_whose_changes_are_not_objects_is_read_as_no_change() -> None:
    data = {**payload("edited"), "changes": {"title": "x", "body": 5}}
    assert routed("issues", data) is None
