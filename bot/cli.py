"""Command line: argument parsing; each command's wiring is in bot/commands/, its work in
bot/flows/.

The process's environment enters here, once: `main` hands it to bot/config.py, which reads and
checks it, and each command gets the result (bot.config.Loaded), never the environment itself.

Exit codes: 0 done, 1 the work failed (a refused allowlist, a failed copy, a transient failure
to retry), 2 bad usage or configuration — always one line saying what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bot import __version__, units
from bot.errors import MirrorBotError
from bot.forge.protocol import ForgeError

if TYPE_CHECKING:
    from bot.config import Loaded

EXIT_FAILED, EXIT_USAGE = 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (argparse prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def positive_int(text: str) -> int:
    """An argparse type: a count of at least 1 (bot/units.py)."""
    try:
        return units.whole_number(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{units.quoted(text)} {error}") from None


def positive_seconds(text: str) -> float:
    """An argparse type: a duration of more than 0 seconds (bot/units.py)."""
    try:
        return units.duration(text, above=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{units.quoted(text)} {error}") from None


def folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a folder (an empty name would mean here)")
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mirror-bot",
                    description="Mirror container images requested through GitHub issues.")
    parser.add_argument("--version", action="version", version=f"mirror-bot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    plan = commands.add_parser("plan", help="what the bot would do with an issue title (offline)")
    plan.add_argument("title")
    plan.add_argument("--body", default="", help="issue body (issue-form sections are read)")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=Command("plan", "plan"))

    sync = commands.add_parser("sync", help="copy images to the mirror now (allowlist applies)")
    sync.add_argument("images", nargs="+", metavar="IMAGE")
    sync.add_argument("--platform", action="append", default=[], metavar="OS/ARCH")
    sync.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=Command("sync", "sync"))

    check = commands.add_parser("check-allowlist", help="validate allowlist.yaml")
    check.add_argument("file", nargs="?", type=Path)
    check.set_defaults(func=Command("tools", "check_allowlist"))

    event = commands.add_parser("handle-event", help="GitHub Actions entry point")
    _forge_option(event)
    event.set_defaults(func=Command("request", "handle_event"))

    sweep = commands.add_parser("sweep", help="finish interrupted requests, retry failed ones")
    sweep.add_argument("--max-issues", type=positive_int, default=20)
    sweep.add_argument("--time-budget", type=positive_seconds, default=1800.0, metavar="SECONDS")
    sweep.add_argument("--max-attempts", type=positive_int, default=5)
    _forge_option(sweep)
    sweep.set_defaults(func=Command("queue", "sweep"))

    resync = commands.add_parser("resync", help="re-check mirrored tags against upstream")
    resync.add_argument("--shard", default="0/1", metavar="I/N")
    resync.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    resync.add_argument("--index", type=Path, help="index.json to use (default: build it)")
    resync.add_argument("--output", type=Path, help="write the JSON report here (default stdout)")
    resync.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                        help="merge shard reports instead of resyncing")
    _forge_option(resync)
    resync.set_defaults(func=Command("queue", "resync_command"))

    index = commands.add_parser("index", help="build index.json and the status page")
    index.add_argument("--html", type=Path, metavar="DIR")
    index.add_argument("--json", type=Path, metavar="FILE", dest="json_path")
    index.add_argument("--report", type=Path, nargs="*", default=[],
                       help="resync report(s) to fold in")
    _forge_option(index)
    index.set_defaults(func=Command("queue", "index"))
    _add_rewrite_parser(commands)
    _add_doctor_parser(commands)
    _add_follow_parsers(commands)
    return parser


def _forge_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local-forge", type=folder, metavar="DIR",
                        help="use the file-backed forge in DIR instead of GitHub")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, *,
         after_imports: Callable[[], None] | None = None) -> int:
    """Run one command. `env` is the environment to configure it from: this process's when
    None (the process entry), a mapping of its own for a library caller or a test."""
    args = _parser().parse_args(argv)
    handler = args.func.load()
    # Imported here, not at the top: `--help` and `--version` need no configuration. Every
    # command module imports it already, so this costs nothing more.
    from bot.config import read_config

    loaded = read_config(os.environ if env is None else env)  # never raises: problems collected
    if after_imports is not None:
        after_imports()
    try:
        return int(handler(args, loaded))
    except ForgeError as error:
        # GitHub failed after its retries: transient, the next scheduled run tries again.
        print(f"mirror-bot {args.command}: {error}; the next run will try again", file=sys.stderr)
        return EXIT_FAILED
    except MirrorBotError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        print(f"mirror-bot {args.command}: {'; '.join(lines)}", file=sys.stderr)
        return EXIT_USAGE


def entry() -> int:
    """The `mirror-bot` console script and `python -m bot`: one command, in a process of its own.

    A command's imports are most of a short command's start-up, and what they build lives as
    long as the process: they run without the cyclic garbage collector, and what they built is
    then frozen out of its later passes, the one at exit included (50-65 ms of a one-image
    sync, measured in docs/benchmarks.md)."""
    gc.disable()
    try:
        return main(after_imports=_freeze_imported)
    finally:
        gc.enable()


def _freeze_imported() -> None:
    gc.freeze()
    gc.enable()


@dataclass(frozen=True)
class Command:
    """The handler `bot.commands.<module>.<function>`, imported only when its command runs."""

    module: str
    function: str

    def load(self) -> Callable[[argparse.Namespace, Loaded], int]:
        handler: Callable[[argparse.Namespace, Loaded], int] = getattr(
            importlib.import_module(f"bot.commands.{self.module}"), self.function)
        return handler


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
    rewrite.set_defaults(func=Command("tools", "rewrite"))


# -- doctor -----------------------------------------------------------------------------------

def _add_doctor_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the set-up end to end (skopeo, allowlist, registries.conf, each "
                       "mirror's push credentials, GitHub) without writing anything")
    doctor.set_defaults(func=Command("tools", "doctor"))


# -- follow, check-subscriptions ------------------------------------------------------------

def _add_follow_parsers(commands: Any) -> None:
    follow = commands.add_parser("follow", help="sync the tags subscriptions.yaml selects")
    follow.add_argument("file", nargs="?", type=Path, help="default: $MIRROR_SUBSCRIPTIONS")
    follow.add_argument("--dry-run", action="store_true", help="copy nothing, write nothing")
    follow.add_argument("--json", action="store_true")
    _forge_option(follow)
    follow.set_defaults(func=Command("follow", "follow"))
    check = commands.add_parser("check-subscriptions", help="validate subscriptions.yaml")
    check.add_argument("file", nargs="?", type=Path)
    check.set_defaults(func=Command("follow", "check_subscriptions"))
