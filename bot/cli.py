"""Command line: argument parsing; each command's wiring is in bot/commands/, its work in
bot/flows/.

The process's environment enters here, once: `main` hands it to bot/config.py, which reads and
checks it, and each command gets the result (bot.config.Loaded), never the environment itself,
and its options as a typed value of its own (never argparse's Namespace). Everything a command
prints, its last error line included, passes the run's secret set (bot/redaction.py).

Exit codes: 0 done, 1 the work failed (a refused allowlist, a failed copy, a transient failure
to retry), 2 bad usage or configuration — always one line saying what to do, never a traceback.
Every argument has a one-line help, and each command's help page ends with what its exit codes
mean and the environment variables it reads (HELP_PAGES, held to bot/config.py by
tests/unit/test_cli_help.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import os
import sys
import textwrap
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
    """argparse, with usage errors in one line (argparse prints the usage block first), and
    help pages whose epilog (exit codes, environment) keeps its lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

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


def build_parser() -> argparse.ArgumentParser:
    """Every command, its arguments and its help page (each ends with HELP_PAGES' epilog)."""
    parser = Parser(prog="mirror-bot",
                    description="Mirror container images requested through GitHub issues.",
                    epilog=TOP_EPILOG)
    parser.add_argument("--version", action="version", version=f"mirror-bot {__version__}",
                        help="print mirror-bot's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                     metavar="COMMAND", help="one of these; COMMAND --help for its page")

    plan = commands.add_parser("plan", help="what the bot would do with an issue title (offline)")
    plan.add_argument("title", metavar="TITLE",
                      help="the issue's title as a user writes it, e.g. 'docker pull nginx:1.27' or "
                           "'nginx:1.27 and redis:7 (arm64)'")
    plan.add_argument("--body", default="", help="issue body (issue-form sections are read)")
    plan.add_argument("--json", action="store_true", dest="as_json",
                      help="print the plan as JSON: per image its decision, source, target, "
                           "targets and reason")
    plan.set_defaults(func=Command("plan", "plan", "PlanOptions"))

    sync = commands.add_parser("sync", help="copy images to the mirror now (allowlist applies)")
    sync.add_argument("images", nargs="+", metavar="IMAGE",
                      help="an image to copy: nginx:1.27, ghcr.io/OWNER/NAME:TAG, NAME@sha256:..., "
                           "or a tag pattern such as nginx:1.27.*")
    sync.add_argument("--platform", action="append", default=[], metavar="OS/ARCH", dest="platforms",
                      help="copy only this platform, e.g. linux/arm64 (repeat for more); default: "
                           "the whole index, its digest kept")
    sync.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                      help="images copied at once (default 1; skopeo processes stay within "
                           "MIRROR_COPY_PROCESSES)")
    sync.add_argument("--json", action="store_true", dest="as_json",
                      help='print {"results": [...]} on stdout, one entry per image in order '
                           "(progress stays on stderr)")
    sync.set_defaults(func=Command("sync", "sync", "SyncOptions"))

    check = commands.add_parser("check-allowlist", help="validate allowlist.yaml")
    check.add_argument("file", nargs="?", type=Path,
                       help="the allowlist to check (default $MIRROR_ALLOWLIST, else allowlist.yaml)")
    # It reads the file it is given: the configured allowlist is not loaded first (a large one
    # would be parsed twice).
    check.set_defaults(func=Command("tools", "check_allowlist", "CheckAllowlistOptions",
                                    reads_allowlist=False))

    event = commands.add_parser("handle-event", help="GitHub Actions entry point")
    _forge_option(event)
    event.set_defaults(func=Command("request", "handle_event", "HandleEventOptions"))

    sweep = commands.add_parser("sweep", help="finish interrupted requests, retry failed ones")
    sweep.add_argument("--max-issues", type=positive_int, default=20, metavar="N",
                       help="act on at most N requests in this run (default 20)")
    sweep.add_argument("--time-budget", type=positive_seconds, default=1800.0, metavar="SECONDS",
                       help="start no further request after this long (default 1800; or with a "
                            "unit: 90s, 30m, 1h)")
    sweep.add_argument("--max-attempts", type=positive_int, default=5, metavar="N",
                       help="after N failed attempts, close the request with an explanation "
                            "(default 5)")
    _forge_option(sweep)
    sweep.set_defaults(func=Command("queue", "sweep", "SweepOptions"))

    resync = commands.add_parser("resync", help="re-check mirrored tags against upstream")
    resync.add_argument("--shard", default="0/1", metavar="I/N",
                        help="re-check only shard I of N, by a stable hash of the target "
                             "(default 0/1: every image)")
    resync.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                        help="images re-checked at once (default 1)")
    resync.add_argument("--index", type=Path, help="index.json to use (default: build it)")
    resync.add_argument("--output", type=Path, help="write the JSON report here (default stdout)")
    resync.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                        help="merge shard reports instead of resyncing")
    resync.add_argument("--record-updates", type=positive_int, metavar="N",
                        help="issue records the whole run may rewrite (2 GitHub requests each), "
                             "shared among its shards (default 100)")
    _forge_option(resync)
    resync.set_defaults(func=Command("queue", "resync_command", "ResyncOptions"))

    index = commands.add_parser("index", help="build index.json and the status page")
    index.add_argument("--html", type=Path, metavar="DIR",
                       help="write the status page into DIR (index.html and index.json)")
    index.add_argument("--json", type=Path, metavar="FILE", dest="json_path",
                       help="write index.json to FILE (with neither option it goes to stdout)")
    index.add_argument("--report", type=Path, nargs="*", default=[],
                       help="resync report(s) to fold in")
    index.add_argument("--shard-plan", type=Path, metavar="FILE",
                       help="append count=N and shards=[0, ..., N-1], the resync shards this index "
                            "needs, to FILE (GitHub Actions' $GITHUB_OUTPUT)")
    _forge_option(index)
    index.set_defaults(func=Command("queue", "index", "IndexOptions"))
    _add_rewrite_parser(commands)
    _add_doctor_parser(commands)
    _add_follow_parsers(commands)
    for name, command in commands.choices.items():
        command.epilog = HELP_PAGES[name].epilog()
    return parser


def _forge_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local-forge", type=folder, metavar="DIR",
                        help="use the file-backed forge in DIR instead of GitHub")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, *,
         after_imports: Callable[[], None] | None = None) -> int:
    """Run one command. `env` is the environment to configure it from: this process's when
    None (the process entry), a mapping of its own for a library caller or a test."""
    args = build_parser().parse_args(argv)
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
                      help="change nothing; exit 1 when a file would change or a reference would "
                           "stay upstream, unless marked '# mirror-bot: ignore' (a CI gate)")
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
    follow.add_argument("file", nargs="?", type=Path,
                        help="the subscriptions (default $MIRROR_SUBSCRIPTIONS, else "
                             "subscriptions.yaml)")
    follow.add_argument("--dry-run", action="store_true", help="copy nothing, write nothing")
    follow.add_argument("--json", action="store_true", dest="as_json",
                        help="print the run as JSON: per subscription the tags selected, synced, "
                             "denied and deferred")
    _forge_option(follow)
    follow.set_defaults(func=Command("follow", "follow", "FollowOptions"))
    check = commands.add_parser("check-subscriptions", help="validate subscriptions.yaml")
    check.add_argument("file", nargs="?", type=Path,
                       help="the subscriptions to check (default $MIRROR_SUBSCRIPTIONS, else "
                            "subscriptions.yaml)")
    check.set_defaults(func=Command("follow", "check_subscriptions", "CheckSubscriptionsOptions"))


# -- help pages: each command's exit codes and the environment it reads -----------------------
# What bot/config.py reads, grouped as the commands use it. tests/unit/test_cli_help.py holds the
# names to config.py's and each command's page to the sections that command asks for.

HELP_WIDTH = 79


@dataclass(frozen=True)
class Variables:
    """Environment variables read together, and what they mean: one entry of a help page."""

    names: tuple[str, ...]
    meaning: str

    def lines(self) -> list[str]:
        return [*_wrap(", ".join(self.names), "  ", " " * 4), *_wrap(self.meaning, " " * 6, " " * 6)]


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, HELP_WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False)


ALLOWLIST_FILE = Variables(
    ("MIRROR_ALLOWLIST",),
    "the allowlist (default allowlist.yaml); its settings: may name the mirror too")
MIRROR = Variables(
    ("MIRROR_REGISTRY",),
    "the mirror, host[:port][/path]; several separated by commas, the first is the primary; "
    "overrides settings.mirror_registry")
GHCR_DEFAULT = Variables(
    ("GITHUB_ACTIONS", "GITHUB_REPOSITORY_OWNER"),
    "inside GitHub Actions (GITHUB_ACTIONS=true) with no mirror configured, the mirror is "
    "ghcr.io/<owner, lowercased> (the owner from GITHUB_REPOSITORY when the first is unset)")
MIRROR_LOGIN = Variables(
    ("MIRROR_USERNAME", "MIRROR_PASSWORD"),
    "the primary mirror's push login; with the GHCR default, GITHUB_ACTOR and GITHUB_TOKEN "
    "when these are unset")
GHCR_LOGIN = Variables(("GITHUB_ACTOR", "GITHUB_TOKEN"), "the GHCR default's login")
AUTH_FILE = Variables(
    ("REGISTRY_AUTH_FILE",),
    "a containers auth.json: logins of source registries and of the other mirrors")
REGISTRIES_CONF = Variables(
    ("CONTAINERS_REGISTRIES_CONF",),
    "a containers-registries.conf(5) file: its prefix, location and insecure entries")
LIMITS = Variables(
    ("MIRROR_TIMEOUT", "MIRROR_COPY_TIMEOUT", "MIRROR_RETRY_ATTEMPTS", "MIRROR_RETRY_BASE_DELAY"),
    "per registry request (30s), per skopeo call (1800s); retries of transient failures (3, "
    "from 2s, exponential with jitter); durations in seconds or with a unit: 500ms, 90s, 5m, 1h")
ENGINE = Variables(
    ("MIRROR_COPY_PROCESSES", "MIRROR_BLOB_THRESHOLD", "MIRROR_BLOB_CHUNK",
     "MIRROR_BLOB_PARALLEL"),
    "skopeo processes at once (6); layers of at least the threshold (32MiB) are copied in "
    "ranges of the chunk (8MiB), parallel (8) at a time")
BLOB_CACHE = Variables(
    ("MIRROR_BLOB_CACHE", "XDG_CACHE_HOME", "HOME"),
    "the blob-location cache file (default $XDG_CACHE_HOME/mirror-bot/blob-locations.json, "
    "~/.cache without XDG_CACHE_HOME); off: none")
SKOPEO = Variables(
    ("PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "LANG",
     "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
     "SSL_CERT_FILE", "SSL_CERT_DIR"),
    "passed on to skopeo; no other variable reaches it (no token, no password)")
SUBSCRIPTIONS_FILE = Variables(
    ("MIRROR_SUBSCRIPTIONS",), "the subscriptions when FILE is not given (default subscriptions.yaml)")
GITHUB = Variables(
    ("GITHUB_TOKEN", "GITHUB_REPOSITORY"),
    "the token, and the owner/name of the repository whose issues hold the requests and the "
    "records (not needed with --local-forge)")
GITHUB_PLACE = Variables(
    ("GITHUB_API_URL", "GITHUB_SERVER_URL", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"),
    "where GitHub is (default https://api.github.com, https://github.com) and this run, for the "
    "comments' links (a first attempt trusts the event's comment count)")
GITHUB_PACE = Variables(
    ("MIRROR_GITHUB_WRITE_INTERVAL", "MIRROR_GITHUB_SECONDARY_WAIT", "MIRROR_GITHUB_BACKOFF",
     "MIRROR_GITHUB_TIMEOUT"),
    "GitHub's pace: seconds between writes (1), the wait after a secondary rate limit (60), the "
    "retries' first backoff (1), per request (30)")
BOT_LOGIN = Variables(
    ("MIRROR_BOT_LOGIN",),
    "the bot's login (default github-actions[bot]): only its comments count as records")
REQUEST_LABEL = Variables(("MIRROR_REQUEST_LABEL",), "the request label (default 'sync image')")
EVENT = Variables(
    ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY"),
    "the event to handle, and the job summary written after it (set by GitHub Actions)")
# A command that builds the whole configuration refuses a bad value of these even when it uses
# none of them (plan, index, rewrite): the environment is checked the same for every command.
UNUSED_BUT_CHECKED = "not used here, but checked: a value that does not parse is exit 2 (see sync --help)"
CHECKED = Variables((*LIMITS.names, *ENGINE.names), UNUSED_BUT_CHECKED)
ENGINE_CHECKED = Variables(ENGINE.names, UNUSED_BUT_CHECKED)

MIRRORS = (ALLOWLIST_FILE, MIRROR, GHCR_DEFAULT)
COPYING = (*MIRRORS, MIRROR_LOGIN, GHCR_LOGIN, AUTH_FILE, REGISTRIES_CONF, LIMITS, ENGINE,
           BLOB_CACHE, SKOPEO)
ON_GITHUB = (GITHUB, GITHUB_PLACE, GITHUB_PACE, BOT_LOGIN, REQUEST_LABEL)
USAGE = (2, "bad usage or configuration: one line says what is wrong and what to do; nothing "
            "is done")


@dataclass(frozen=True)
class HelpPage:
    """The end of a command's help page: what its exit codes mean, what it reads."""

    exits: tuple[tuple[int, str], ...]
    environment: tuple[Variables, ...]

    def epilog(self) -> str:
        lines = ["exit codes:"]
        for code, meaning in self.exits:
            lines += _wrap(meaning, f"  {code}  ", " " * 5)
        lines += ["", "environment:"]
        for variables in self.environment:
            lines += variables.lines()
        return "\n".join(lines)


HELP_PAGES = {
    "plan": HelpPage(
        ((0, "the plan is printed; with no mirror configured, the decisions without addresses "
             "(and a note on stderr)"), USAGE),
        (*MIRRORS, CHECKED)),
    "sync": HelpPage(
        ((0, "every image copied or already current"),
         (1, "an image failed, was refused (denied, invalid) or deferred"), USAGE),
        COPYING),
    "check-allowlist": HelpPage(
        ((0, "the file is valid"), (1, "a problem, each printed as file:line: problem"),
         (2, "bad usage")),
        (ALLOWLIST_FILE,)),
    "check-subscriptions": HelpPage(
        ((0, "the file is valid"), (1, "a problem, each printed as file:line: problem"),
         (2, "bad usage, or the allowlist it is checked against cannot be read")),
        (SUBSCRIPTIONS_FILE, ALLOWLIST_FILE)),
    "handle-event": HelpPage(
        ((0, "handled (mirrored, denied, invalid, given up, or deferred until the registry's "
             "pull quota lets it be read) or nothing to do"),
         (1, "a transient failure (a registry, or GitHub after its retries): the request stays "
             "open and the sweep tries it again"),
         (2, "misconfigured: one line says what to fix; nothing is written to the issue")),
        (EVENT, *ON_GITHUB, *COPYING)),
    "sweep": HelpPage(
        ((0, "each request looked at is handled, deferred, or waiting for its backoff or for "
             "the registry's pull quota"),
         (1, "a retried request failed again, or GitHub failed after its retries"), USAGE),
        (*ON_GITHUB, *COPYING)),
    "resync": HelpPage(
        ((0, "every image is current, copied again, gone upstream (reported, kept) or deferred; "
             "with --merge, the reports are merged"),
         (1, "an image failed"), USAGE),
        (*ON_GITHUB, *COPYING)),
    "index": HelpPage(
        ((0, "the index is written"), (1, "GitHub failed after its retries"), USAGE),
        (*ON_GITHUB, *MIRRORS, CHECKED)),
    "follow": HelpPage(
        ((0, "every selected tag is current, copied or deferred to the next run"),
         (1, "a sync failed, or GitHub failed after its retries"),
         (2, "bad usage, configuration or subscriptions file: one line says what to fix; "
             "nothing is done")),
        (SUBSCRIPTIONS_FILE, *ON_GITHUB, *COPYING)),
    "rewrite": HelpPage(
        ((0, "done; with --check, nothing would change and no reference stays upstream"),
         (1, "with --check: a file would change or a reference would stay upstream (each named "
             "on stderr)"),
         (2, "cannot tell (the mirror unreachable; a file unreadable, not valid YAML, nested too "
             "deep or outside the current directory), or bad usage or configuration; nothing is "
             "changed")),
        (*MIRRORS, MIRROR_LOGIN, GHCR_LOGIN, AUTH_FILE, REGISTRIES_CONF, LIMITS, ENGINE_CHECKED)),
    "doctor": HelpPage(
        ((0, "every check passed (warnings allowed)"),
         (1, "a check failed; a configuration problem is a failed check, so one run lists each"),
         (2, "bad usage")),
        (*MIRRORS, MIRROR_LOGIN, GHCR_LOGIN, AUTH_FILE, REGISTRIES_CONF, LIMITS, ENGINE, SKOPEO,
         *ON_GITHUB)),
}

TOP_EPILOG = """exit codes (each command's --help says what they mean for it):
  0  done
  1  the work failed: an image failed or was refused, a check found a problem
  2  bad usage or configuration: one line says what is wrong and what to do

Configuration is read from the environment (MIRROR_REGISTRY, MIRROR_ALLOWLIST, ...) and the
allowlist's settings; each command's --help lists the variables it reads."""
