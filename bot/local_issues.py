"""The local forge's issues in its state file: GitHub payloads overlaid with what the bot set.

Rule: an issue is kept as the payload it arrived with (an event's, or the one the bot created)
and what the bot set later (labels, state) overlays it, so a listing shows each issue as GitHub
would list it now; the repository's labels are those issues carry or the bot has set. Pure
functions over the state's dictionaries; LocalForge reads and saves the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot import timestamps

State = dict[str, Any]


def listed(state: State, comment_count: Callable[[int], int]) -> list[dict[str, Any]]:
    """Every known issue as GitHub would list it now, oldest first."""
    found = []
    for number, raw in sorted(state.get("known", {}).items(), key=lambda kv: int(kv[0])):
        recorded = state["issues"].get(number, {})
        labels = recorded.get("labels") or [label["name"] for label in raw.get("labels", [])]
        found.append({**raw, "labels": [{"name": name} for name in labels],
                      "state": recorded.get("state") or raw.get("state", "open"),
                      "comments": comment_count(int(number))})
    return found


def create(state: State, title: str, body: str, labels: list[str], author: str) -> dict[str, Any]:
    """A new issue by `author`, open and unlocked as GitHub creates one; returns its payload."""
    known = state.setdefault("known", {})
    number = max(map(int, known), default=0) + 1
    known[str(number)] = {
        "number": number, "title": title, "body": body, "state": "open", "locked": False,
        "user": {"login": author, "type": "Bot" if author.endswith("[bot]") else "User"},
        "labels": [{"name": name} for name in labels], "comments": 0,
        "created_at": timestamps.now_text()}
    return known[str(number)]


def has_label(state: State, name: str) -> bool:
    """Whether the repository has label `name`: here, one a known issue carries or the bot has
    set (GitHub creates a label the first time it is set on an issue)."""
    carried = {label.get("name") for raw in state.get("known", {}).values()
               for label in raw.get("labels") or []}
    set_by_bot = {label for issue in state["issues"].values() for label in issue["labels"]}
    return name in carried | set_by_bot
