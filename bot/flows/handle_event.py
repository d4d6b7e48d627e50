"""`mirror-bot handle-event`: one GitHub event in, the outcomes table of the README out.

Rule: the event file is untrusted input (a missing, unreadable or malformed file is a
configuration error: one line, exit 2, no comment). The route table (bot/flows/events.py) decides
whether the event needs the bot; a `/retry` is honoured only from the issue's author or a user
with write access to the repository, and a failure to ask GitHub who that is, is transient
(exit 1), never a misconfiguration. Exit 0 when the issue was handled or needed nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.flows.conclude import RunOutcome, RunStatus
from bot.flows.events import Behaviour, Event, route
from bot.flows.request_handler import RequestHandler
from bot.forge.protocol import ForgeError
from bot.render import render

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


def read_event(path: Path | None, name: str) -> tuple[str, dict[str, Any]]:
    """The event's name and payload: `name` (GITHUB_EVENT_NAME) and the JSON file at `path`
    (GITHUB_EVENT_PATH, None when it is not set)."""
    if path is None:
        raise ConfigError("GITHUB_EVENT_PATH is not set; run this from GitHub Actions or pass an "
                          "event file with GITHUB_EVENT_PATH=event.json")
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError as error:
        raise ConfigError(f"GITHUB_EVENT_PATH {path} is a directory; it must name the event "
                          "file") from error
    except OSError as error:
        raise ConfigError(f"cannot read GITHUB_EVENT_PATH {path}: {error.strerror or error}") \
            from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"GITHUB_EVENT_PATH {path} is not UTF-8 text") from error
    if not text.strip():
        raise ConfigError(f"GITHUB_EVENT_PATH {path} is empty; it must hold the event JSON")
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"GITHUB_EVENT_PATH {path} is not JSON ({error})") from error
    if not isinstance(payload, dict):
        raise ConfigError(f"GITHUB_EVENT_PATH {path} holds JSON that is not an object")
    return name, payload


def handle(event: Event, handler: RequestHandler) -> RunOutcome:
    """Route the event, check who may retry, and process the request."""
    labels = handler.config.labels
    decision = route(event, labels, handler.config.own_prefixes, handler.config.other_mirrors)
    if decision.behaviour is None:
        handler.say(f"ignored: {decision.reason}")
        return RunOutcome(RunStatus.IGNORED, 0)
    if decision.behaviour == Behaviour.RETRY and event.sender != event.issue.author:
        try:
            permission = handler.forge.permission(event.sender)
        except ForgeError as error:
            handler.say(f"issue #{event.issue.number}: cannot check who asked for /retry "
                        f"({error}); comment /retry again later")
            return RunOutcome(RunStatus.FAILED, 1)
        if permission not in WRITE_PERMISSIONS:
            handler.say(f"ignored: /retry by {event.sender}: not the author, permission "
                        f"'{permission}'")
            return RunOutcome(RunStatus.IGNORED, 0)
    return handler.process_safely(event.issue, requester=event.sender)


def write_summary(path: Path, number: int, outcome: RunOutcome,
                  secrets: Iterable[str], language: str = "en") -> None:
    """Append issue `number`'s part of the job summary (GITHUB_STEP_SUMMARY): every image, which
    a long comment points to. Redacted by `secrets` (the run's secret set) as bot/render.py
    redacts: every value before it is escaped, then the text."""
    rows = [{"source": r.source, "status": r.status, "target": r.target or "",
             "digest": r.digest or (str(r.error.kind) if r.error else "")}
            for r in outcome.results]
    text = render("summary.md.j2", language, secrets=secrets, number=number,
                  outcome=str(outcome.name), rows=rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
