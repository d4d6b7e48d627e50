"""Command line: argument parsing and all wiring; the work is done in bot.flows.

Exit codes: 0 done, 1 the work failed (a refused allowlist, a failed copy, a transient failure
to retry), 2 bad usage or configuration — always one line saying what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bot import __version__
from bot.errors import ConfigError, MirrorBotError
from bot.forge import ForgeError

if TYPE_CHECKING:
    from bot.config import Config
    from bot.flows.request_handler import RequestHandler
    from bot.forge import Forge

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
Env = Mapping[str, str]


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (argparse prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mirror-bot",
                    description="Mirror container images requested through GitHub issues.")
    parser.add_argument("--version", action="version", version=f"mirror-bot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    plan = commands.add_parser("plan", help="what the bot would do with an issue title (offline)")
    plan.add_argument("title")
    plan.add_argument("--body", default="", help="issue body (issue-form sections are read)")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=_plan)

    sync = commands.add_parser("sync", help="copy images to the mirror now (allowlist applies)")
    sync.add_argument("images", nargs="+", metavar="IMAGE")
    sync.add_argument("--platform", action="append", default=[], metavar="OS/ARCH")
    sync.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=_sync)

    check = commands.add_parser("check-allowlist", help="validate allowlist.yaml")
    check.add_argument("file", nargs="?", type=Path)
    check.set_defaults(func=_check_allowlist)

    event = commands.add_parser("handle-event", help="GitHub Actions entry point")
    _forge_option(event)
    event.set_defaults(func=_handle_event)

    sweep = commands.add_parser("sweep", help="finish interrupted requests, retry failed ones")
    sweep.add_argument("--max-issues", type=positive_int, default=20)
    sweep.add_argument("--time-budget", type=float, default=1800.0, metavar="SECONDS")
    sweep.add_argument("--max-attempts", type=positive_int, default=5)
    _forge_option(sweep)
    sweep.set_defaults(func=_queue("sweep"))

    resync = commands.add_parser("resync", help="re-check mirrored tags against upstream")
    resync.add_argument("--shard", default="0/1", metavar="I/N")
    resync.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    resync.add_argument("--index", type=Path, help="index.json to use (default: build it)")
    resync.add_argument("--output", type=Path, help="write the JSON report here (default stdout)")
    resync.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                        help="merge shard reports instead of resyncing")
    _forge_option(resync)
    resync.set_defaults(func=_queue("resync_command"))

    index = commands.add_parser("index", help="build index.json and the status page")
    index.add_argument("--html", type=Path, metavar="DIR")
    index.add_argument("--json", type=Path, metavar="FILE", dest="json_path")
    index.add_argument("--report", type=Path, nargs="*", default=[],
                       help="resync report(s) to fold in")
    _forge_option(index)
    index.set_defaults(func=_queue("index"))
    _add_rewrite_parser(commands)
    _add_doctor_parser(commands)
    _add_follow_parsers(commands)
    return parser


def _forge_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local-forge", type=Path, metavar="DIR",
                        help="use the file-backed forge in DIR instead of GitHub")


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args, os.environ if env is None else env))
    except ForgeError as error:
        # GitHub failed after its retries: transient, the next scheduled run tries again.
        print(f"mirror-bot {args.command}: {error}; the next run will try again", file=sys.stderr)
        return EXIT_FAILED
    except MirrorBotError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        print(f"mirror-bot {args.command}: {'; '.join(lines)}", file=sys.stderr)
        return EXIT_USAGE


def _check_allowlist(args: argparse.Namespace, env: Env) -> int:
    from bot.policy import check_allowlist_file

    path = args.file or Path(env.get("MIRROR_ALLOWLIST") or "allowlist.yaml")
    allowlist, problems = check_allowlist_file(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s); fix them and run check-allowlist again",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"{path}: ok ({len(allowlist.allow)} allow, {len(allowlist.deny)} deny)")
    return EXIT_OK


def _plan(args: argparse.Namespace, env: Env) -> int:
    from bot.config import load_config
    from bot.flows.plan import plan_issue

    config = load_config(env)
    plan = plan_issue(args.title, args.body, config.allowlist, config.namer, config.other_mirrors)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
        return EXIT_OK
    for image in plan.images:
        platforms = ", ".join(map(str, image.platforms)) if image.platforms else "all platforms"
        print(f"{image.input}: {image.decision.upper()}")
        if image.source:
            print(f"  source:     {image.source}")
        if image.target:
            print(f"  target:     {image.target} ({platforms})")
        print(f"  reason:     {image.reason}")
        for note in image.notes:
            print(f"  note:       {note}")
        if image.suggestion:
            print(f"  did you mean: {image.suggestion}")
    return EXIT_OK


def _sync(args: argparse.Namespace, env: Env) -> int:
    from bot.adapters import build_syncer
    from bot.config import load_config
    from bot.flows.sync_images import run_sync
    from bot.platform import InvalidPlatform, Platform

    try:
        platforms = [Platform.parse(text) for text in args.platform]
    except InvalidPlatform as error:
        raise ConfigError(f"--platform: {error}") from error
    config = load_config(env)
    syncer = build_syncer(config)
    return run_sync(args.images, platforms, config, syncer, syncer.registry.list_tags,
                    jobs=args.jobs, as_json=args.json)


def request_handler(config: Config, forge: Forge, env: Env) -> RequestHandler:
    """The request use case wired with its adapters (also used by the sweep and the tests)."""
    from bot.adapters import build_syncer
    from bot.flows.comment_body import CommentWriter
    from bot.flows.request_handler import RequestHandler

    repository = env.get("GITHUB_REPOSITORY", "")
    server = env.get("GITHUB_SERVER_URL") or "https://github.com"
    run_id = env.get("GITHUB_RUN_ID")
    repository_url = f"{server}/{repository}" if repository else ""
    comments = CommentWriter(
        run_url=f"{server}/{repository}/actions/runs/{run_id}" if run_id and repository else None,
        allowlist_url=f"{repository_url}/blob/HEAD/allowlist.yaml" if repository_url
        else "allowlist.yaml",
        secrets=config.secrets, language=config.language)
    syncer = build_syncer(config)
    return RequestHandler(config=config, forge=forge, syncer=syncer, comments=comments,
                          list_tags=syncer.registry.list_tags)


def _handle_event(args: argparse.Namespace, env: Env) -> int:
    from bot.adapters import build_forge
    from bot.config import load_config
    from bot.events import Event
    from bot.flows.handle_event import handle, read_event, write_summary

    name, payload = read_event(env)
    event = Event.from_payload(name, payload)
    if event is None:
        print(f"mirror-bot: ignored: the {name or 'unnamed'} event is not about an issue",
              file=sys.stderr)
        return EXIT_OK
    config = load_config(env)
    forge = build_forge(env, args.local_forge)
    if args.local_forge is not None:
        forge.add_issue(payload["issue"])  # the local forge learns issues from their events
    outcome = handle(event, request_handler(config, forge, env))
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary and outcome.name != "ignored":
        write_summary(Path(summary), event.issue, outcome, config.secrets, config.language)
    return outcome.exit_code


def _queue(command: str, module: str = "queue_commands") -> Any:
    def run(args: argparse.Namespace, env: Env) -> int:  # bot.<module> is imported only now
        return int(getattr(importlib.import_module(f"bot.{module}"), command)(args, env))
    return run


# -- rewrite ----------------------------------------------------------------------------------

REWRITE_FORMATS = ("kubernetes", "compose", "dockerfile", "helm")  # bot.rewrite.formats.Format


def _add_rewrite_parser(commands: Any) -> None:
    rewrite = commands.add_parser(
        "rewrite", help="rewrite image references in manifests, compose files, Dockerfiles and "
                        "Helm values to their mirrored addresses, in place")
    rewrite.add_argument("files", nargs="+", metavar="FILE",
                         help="files to rewrite in place; - reads standard input, writes standard output")
    mode = rewrite.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 when a file would change (a CI gate)")
    mode.add_argument("--diff", action="store_true", help="change nothing; print a unified diff")
    rewrite.add_argument("--all", action="store_true", dest="all_allowed",
                         help="rewrite every reference the allowlist allows, mirrored yet or not "
                              "(asks no registry)")
    rewrite.add_argument("--format", choices=REWRITE_FORMATS,
                         help="the files' format when it cannot be told from the name or content")
    rewrite.set_defaults(func=_rewrite)


def _rewrite(args: argparse.Namespace, env: Env) -> int:
    from bot.adapters import build_registry_client
    from bot.config import load_config
    from bot.flows.rewrite import Format, Mode, Streams, rewrite_files

    mode = Mode.CHECK if args.check else Mode.DIFF if args.diff else Mode.WRITE
    config = load_config(env)
    checker = None if args.all_allowed else build_registry_client(config).head_digest
    return rewrite_files(args.files, mode=mode, config=config, checker=checker,
                         format=Format(args.format) if args.format else None,
                         streams=Streams(sys.stdin.buffer, sys.stdout.buffer, sys.stderr))


# -- doctor -----------------------------------------------------------------------------------

def _add_doctor_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the set-up end to end (skopeo, allowlist, registries.conf, each "
                       "mirror's push credentials, GitHub) without writing anything")
    doctor.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace, env: Env) -> int:
    from bot.adapters import build_forge, build_registry_client, credentials_for
    from bot.flows.doctor import Edges, diagnose, exit_code
    from bot.skopeo import Skopeo

    edges = Edges(skopeo_version=Skopeo().version, credentials=credentials_for,
                  registry_client=build_registry_client, forge=build_forge)
    checks = []
    for check in diagnose(env, edges):
        print(check.line(), flush=True)
        checks.append(check)
    return exit_code(checks)


# -- follow, check-subscriptions (handlers in bot/follow_commands.py) -------------------------

def _add_follow_parsers(commands: Any) -> None:
    follow = commands.add_parser("follow", help="sync the tags subscriptions.yaml selects")
    follow.add_argument("file", nargs="?", type=Path, help="default: $MIRROR_SUBSCRIPTIONS")
    follow.add_argument("--dry-run", action="store_true", help="copy nothing, write nothing")
    follow.add_argument("--json", action="store_true")
    _forge_option(follow)
    follow.set_defaults(func=_queue("follow", "follow_commands"))
    check = commands.add_parser("check-subscriptions", help="validate subscriptions.yaml")
    check.add_argument("file", nargs="?", type=Path)
    check.set_defaults(func=_queue("check_subscriptions", "follow_commands"))
