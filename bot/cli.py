"""Command line: argument parsing; each command's wiring is in bot/commands/, its work in
bot/flows/.

The process's environment enters here, once: `main` hands it to bot/config.py, which reads and
checks it, and each command gets the result (bot.config.Loaded), never the environment itself,
and its options as a typed value of its own (never argparse's Namespace). Everything a command
prints, its last error line included, passes the run's secret set (bot/redaction.py).

Exit codes: 0 done, 1 the work failed (a refused allowlist, a failed copy, a transient failure
to retry), 2 bad usage or configuration — always one line saying what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from bot.redaction import redirected

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
    plan.add_argument("--json", action="store_true", dest="as_json")
    plan.set_defaults(func=Command("plan", "plan", "PlanOptions"))

    sync = commands.add_parser("sync", help="copy images to the mirror now (allowlist applies)")
    sync.add_argument("images", nargs="+", metavar="IMAGE")
    sync.add_argument("--platform", action="append", default=[], metavar="OS/ARCH", dest="platforms")
    sync.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    sync.add_argument("--json", action="store_true", dest="as_json")
    sync.set_defaults(func=Command("sync", "sync", "SyncOptions"))

    check = commands.add_parser("check-allowlist", help="validate allowlist.yaml")
    check.add_argument("file", nargs="?", type=Path)
    # It reads the file it is given: the configured allowlist is not loaded first (a large one
    # would be parsed twice).
    check.set_defaults(func=Command("tools", "check_allowlist", "CheckAllowlistOptions",
                                    reads_allowlist=False))

    event = commands.add_parser("handle-event", help="GitHub Actions entry point")
    _forge_option(event)
    event.set_defaults(func=Command("request", "handle_event", "HandleEventOptions"))

    sweep = commands.add_parser("sweep", help="finish interrupted requests, retry failed ones")
    sweep.add_argument("--max-issues", type=positive_int, default=20)
    sweep.add_argument("--time-budget", type=positive_seconds, default=1800.0, metavar="SECONDS")
    sweep.add_argument("--max-attempts", type=positive_int, default=5)
    _forge_option(sweep)
    sweep.set_defaults(func=Command("queue", "sweep", "SweepOptions"))

    resync = commands.add_parser("resync", help="re-check mirrored tags against upstream")
    resync.add_argument("--shard", default="0/1", metavar="I/N")
    resync.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    resync.add_argument("--index", type=Path, help="index.json to use (default: build it)")
    resync.add_argument("--output", type=Path, help="write the JSON report here (default stdout)")
    resync.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                        help="merge shard reports instead of resyncing")
    _forge_option(resync)
    resync.set_defaults(func=Command("queue", "resync_command", "ResyncOptions"))

    index = commands.add_parser("index", help="build index.json and the status page")
    index.add_argument("--html", type=Path, metavar="DIR")
    index.add_argument("--json", type=Path, metavar="FILE", dest="json_path")
    index.add_argument("--report", type=Path, nargs="*", default=[],
                       help="resync report(s) to fold in")
    _forge_option(index)
    index.set_defaults(func=Command("queue", "index", "IndexOptions"))
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
    command: Command = args.func
    handler, options = command.load(args)
    # Imported here, not at the top: `--help` and `--version` need no configuration. Every
    # command module imports it already, so this costs nothing more.
    from bot.config import read_config

    # Never raises: the problems are collected, and each command asks for what it uses.
    loaded = read_config(os.environ if env is None else env, with_allowlist=command.reads_allowlist)
    if after_imports is not None:
        after_imports()
    with redirected(loaded.secret_set):
        try:
            return int(handler(options, loaded))
        except ForgeError as error:
            # GitHub failed after its retries: transient, the next scheduled run tries again.
            print(f"mirror-bot {args.command}: {error}; the next run will try again",
                  file=sys.stderr)
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
    """The handler `bot.commands.<module>.<function>`, imported only when its command runs,
    and the options it takes: the dataclass `<options>` of that module, whose fields are named
    as the command's arguments are (their `dest`)."""

    module: str
    function: str
    options: str
    reads_allowlist: bool = True  # whether the configured allowlist is loaded for it

    def load(self, args: argparse.Namespace) -> tuple[Callable[[Any, Loaded], int], object]:
        """The handler, and its options read from the parsed arguments."""
        module = importlib.import_module(f"bot.commands.{self.module}")
        handler: Callable[[Any, Loaded], int] = getattr(module, self.function)
        options_type = getattr(module, self.options)
        values = {field.name: getattr(args, field.name) for field in dataclasses.fields(options_type)}
        return handler, options_type(**values)


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
    rewrite.set_defaults(func=Command("tools", "rewrite", "RewriteOptions"))


# -- doctor -----------------------------------------------------------------------------------

def _add_doctor_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the set-up end to end (skopeo, allowlist, registries.conf, each "
                       "mirror's push credentials, GitHub) without writing anything")
    doctor.set_defaults(func=Command("tools", "doctor", "DoctorOptions"))


# -- follow, check-subscriptions ------------------------------------------------------------

def _add_follow_parsers(commands: Any) -> None:
    follow = commands.add_parser("follow", help="sync the tags subscriptions.yaml selects")
    follow.add_argument("file", nargs="?", type=Path, help="default: $MIRROR_SUBSCRIPTIONS")
    follow.add_argument("--dry-run", action="store_true", help="copy nothing, write nothing")
    follow.add_argument("--json", action="store_true", dest="as_json")
    _forge_option(follow)
    follow.set_defaults(func=Command("follow", "follow", "FollowOptions"))
    check = commands.add_parser("check-subscriptions", help="validate subscriptions.yaml")
    check.add_argument("file", nargs="?", type=Path)
    check.set_defaults(func=Command("follow", "check_subscriptions", "CheckSubscriptionsOptions"))
