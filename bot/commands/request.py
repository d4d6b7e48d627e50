"""Wiring for `handle-event`, and the request use case's adapters.

Rule: every command takes the sections of the configuration it needs (`Loaded.config`),
refuses bad input with a ConfigError (one line, exit 2) before anything is done, and hands the
flow its adapters. The event is read before the rest is asked for: an event that needs nothing
exits 0 whatever else is wrong.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bot.commands.adapters import build_forge, build_syncer, needs_github
from bot.config import Config, Loaded
from bot.flows.comment_body import CommentWriter
from bot.flows.events import Event
from bot.flows.handle_event import handle, read_event, write_summary
from bot.flows.request_handler import RequestHandler
from bot.forge.local import LocalForge
from bot.forge.protocol import Forge


def request_handler(config: Config, forge: Forge) -> RequestHandler:
    """The request use case wired with its adapters (also used by the sweep and the tests);
    comments link to this run and to the allowlist when config.github names the repository."""
    comments = CommentWriter(
        run_url=config.github.run_url,
        allowlist_url=_allowlist_url(config.github.repository_url, config.files.allowlist),
        secrets=config.secret_set, language=config.language)
    syncer = build_syncer(config)
    return RequestHandler(config=config, forge=forge, syncer=syncer, comments=comments,
                          list_tags=syncer.registry.list_tags)


@dataclass(frozen=True)
class HandleEventOptions:
    local_forge: Path | None  # the file-backed forge's folder instead of GitHub


def handle_event(options: HandleEventOptions, loaded: Loaded) -> int:
    name, payload = read_event(loaded.event.path, loaded.event.name)
    event = Event.from_payload(name, payload)
    if event is None:
        print(f"mirror-bot: ignored: the {name or 'unnamed'} event is not about an issue",
              file=sys.stderr)
        return 0
    config = loaded.config(*needs_github(options.local_forge))
    forge = build_forge(config.github, config.bot_login, options.local_forge)
    if isinstance(forge, LocalForge):
        forge.add_issue(payload["issue"])  # the local forge learns issues from their events
    outcome = handle(event, request_handler(config, forge))
    summary = config.github.step_summary
    if summary and outcome.name != "ignored":
        try:
            write_summary(summary, event.issue.number, outcome, config.secret_set,
                          config.language)
        except OSError as error:  # the issue is handled already; only the job summary is lost
            print(f"mirror-bot: the job summary was not written to {summary}: "
                  f"{error.strerror or error}", file=sys.stderr)
    return outcome.exit_code


def _allowlist_url(repository_url: str, path: Path) -> str:
    """Where people read the allowlist: the file in the repository, when it is one of its files."""
    if not repository_url or path.is_absolute() or ".." in path.parts:
        return path.name
    return f"{repository_url}/blob/HEAD/{path.as_posix()}"
