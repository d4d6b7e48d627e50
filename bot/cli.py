"""Command line: argument parsing only; the work is done in bot.flows.

Exit codes: 0 done, 1 the work failed (a refused allowlist, a failed copy, a transient failure
to retry), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.errors import MirrorBotError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror-bot", description="Mirror container images requested through GitHub issues."
    )
    parser.add_argument("--version", action="version", version=f"mirror-bot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="what the bot would do with an issue title (offline)")
    plan.add_argument("title")
    plan.add_argument("--body", default="", help="issue body (issue-form sections are read)")
    plan.add_argument("--json", action="store_true")

    sync = commands.add_parser("sync", help="copy images to the mirror now (allowlist applies)")
    sync.add_argument("images", nargs="+", metavar="IMAGE")
    sync.add_argument("--platform", action="append", default=[], metavar="OS/ARCH")
    sync.add_argument("--jobs", type=int, default=1, metavar="N")
    sync.add_argument("--json", action="store_true")

    check = commands.add_parser("check-allowlist", help="validate allowlist.yaml")
    check.add_argument("file", nargs="?", type=Path)

    event = commands.add_parser("handle-event", help="GitHub Actions entry point")
    _forge_option(event)

    sweep = commands.add_parser("sweep", help="finish interrupted requests, retry failed ones")
    sweep.add_argument("--max-issues", type=int, default=20)
    sweep.add_argument("--time-budget", type=float, default=1800.0, metavar="SECONDS")
    sweep.add_argument("--max-attempts", type=int, default=5)
    _forge_option(sweep)

    resync = commands.add_parser("resync", help="re-check mirrored tags against upstream")
    resync.add_argument("--shard", default="0/1", metavar="I/N")
    resync.add_argument("--jobs", type=int, default=1, metavar="N")
    resync.add_argument("--index", type=Path, help="index.json to use (default: build it)")
    resync.add_argument("--output", type=Path, help="write the JSON report here (default stdout)")
    resync.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                        help="merge shard reports instead of resyncing")
    _forge_option(resync)

    index = commands.add_parser("index", help="build index.json and the status page")
    index.add_argument("--html", type=Path, metavar="DIR")
    index.add_argument("--json", type=Path, metavar="FILE", dest="json_path")
    index.add_argument("--report", type=Path, nargs="*", default=[],
                       help="resync report(s) to fold in")
    _forge_option(index)
    return parser


def _forge_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local-forge", type=Path, metavar="DIR",
                        help="use the file-backed forge in DIR instead of GitHub")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-allowlist":
            return _check_allowlist(args.file)
        if args.command == "plan":
            return _plan(args)
        if args.command == "sync":
            return _sync(args)
        if args.command == "handle-event":
            return _handle_event(args)
        if args.command in {"sweep", "resync", "index"}:
            from bot.flows.queue_commands import run_queue_command

            return run_queue_command(args)
    except MirrorBotError as error:
        print(f"mirror-bot: {error}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(args.command)


def _check_allowlist(file: Path | None) -> int:
    from bot.policy import check_allowlist_file

    path = file or Path(os.environ.get("MIRROR_ALLOWLIST") or "allowlist.yaml")
    allowlist, problems = check_allowlist_file(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s); fix them and run check-allowlist again",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"{path}: ok ({len(allowlist.allow)} allow, {len(allowlist.deny)} deny)")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from bot.config import load_config
    from bot.flows.plan import plan_issue

    config = load_config()
    plan = plan_issue(args.title, args.body, config.allowlist, config.namer)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
        return EXIT_OK
    for image in plan.images:
        platforms = ", ".join(image.platforms) if image.platforms else "all platforms"
        print(f"{image.input}: {image.decision.upper()}")
        if image.source:
            print(f"  source:     {image.source}")
        if image.target:
            print(f"  target:     {image.target} ({platforms})")
        print(f"  reason:     {image.reason}")
        if image.suggestion:
            print(f"  did you mean: {image.suggestion}")
    return EXIT_OK


def _sync(args: argparse.Namespace) -> int:
    from bot.flows.sync_images import run_sync

    return run_sync(args.images, args.platform, args.jobs, args.json)


def _handle_event(args: argparse.Namespace) -> int:
    from bot.flows.handle_event import run_from_environment

    return run_from_environment(local_forge=args.local_forge)
