"""Wiring for `handle-event`, and the request use case's adapters.

Rule: every command reads its configuration once (`load_config`), refuses bad input with a
ConfigError (one line, exit 2) before anything is done, and hands the flow its adapters.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.commands.adapters import build_forge, build_syncer
from bot.config import Config, load_config
from bot.flows.comment_body import CommentWriter
from bot.flows.events import Event
from bot.flows.handle_event import handle, read_event, write_summary
from bot.flows.request_handler import RequestHandler
from bot.forge.protocol import Forge

Env = Mapping[str, str]


def request_handler(config: Config, forge: Forge, env: Env) -> RequestHandler:
    """The request use case wired with its adapters (also used by the sweep and the tests)."""

    repository = env.get("GITHUB_REPOSITORY", "")
    server = env.get("GITHUB_SERVER_URL") or "https://github.com"
    run_id = env.get("GITHUB_RUN_ID")
    repository_url = f"{server}/{repository}" if repository else ""
    comments = CommentWriter(
        run_url=f"{server}/{repository}/actions/runs/{run_id}" if run_id and repository else None,
        allowlist_url=_allowlist_url(repository_url, config.allowlist_path),
        secrets=config.secrets, language=config.language)
    syncer = build_syncer(config)
    return RequestHandler(config=config, forge=forge, syncer=syncer, comments=comments,
                          list_tags=syncer.registry.list_tags)


def handle_event(args: argparse.Namespace, env: Env) -> int:

    name, payload = read_event(env)
    event = Event.from_payload(name, payload)
    if event is None:
        print(f"mirror-bot: ignored: the {name or 'unnamed'} event is not about an issue",
              file=sys.stderr)
        return 0
    config = load_config(env)
    forge = build_forge(env, args.local_forge)
    if args.local_forge is not None:
        forge.add_issue(payload["issue"])  # the local forge learns issues from their events
    outcome = handle(event, request_handler(config, forge, env))
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary and outcome.name != "ignored":
        try:
            write_summary(Path(summary), event.issue, outcome, config.secrets, config.language)
        except OSError as error:  # the issue is handled already; only the job summary is lost
            print(f"mirror-bot: the job summary was not written to {summary}: "
                  f"{error.strerror or error}", file=sys.stderr)
    return outcome.exit_code


def _allowlist_url(repository_url: str, path: Path) -> str:
    """Where people read the allowlist: the file in the repository, when it is one of its files."""
    if not repository_url or path.is_absolute() or ".." in path.parts:
        return path.name
    return f"{repository_url}/blob/HEAD/{path.as_posix()}"
