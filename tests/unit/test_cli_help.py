"""Help that says enough: every option and positional argument of every command has a one-line
help, and each command's help page ends with its exit codes and the environment variables it
reads — names that bot/config.py really reads, every one of them on some page, and each page
naming what its command asks the configuration for."""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterator

import pytest

from bot import cli
from bot.config import CHILD_VARIABLES
from tests.fixtures import REPO_ROOT

PARSER = cli.build_parser()


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


COMMANDS = subcommands(PARSER)


def walk(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, argparse.Action]]:
    for action in parser._actions:
        yield parser, action
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from walk(child)


def config_variables() -> set[str]:
    """The environment variables bot/config.py reads: its NAME_LIKE_THIS strings, and what it
    hands on to skopeo."""
    tree = ast.parse((REPO_ROOT / "bot" / "config.py").read_text())
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", node.value)} | set(CHILD_VARIABLES)


def page_variables(command: str) -> set[str]:
    return {name for variables in cli.HELP_PAGES[command].environment for name in variables.names}


def test_the_walk_sees_every_command() -> None:
    assert set(COMMANDS) == {"plan", "sync", "check-allowlist", "check-subscriptions",
                             "handle-event", "sweep", "resync", "index", "follow", "rewrite",
                             "doctor"}
    assert set(cli.HELP_PAGES) == set(COMMANDS)


def test_every_argument_of_every_command_has_a_one_line_help() -> None:
    missing = [f"{parser.prog} {action.dest}" for parser, action in walk(PARSER)
               if not action.help or action.help == argparse.SUPPRESS or "\n" in action.help]
    assert missing == []
    # The walk reached each command's own arguments (the doctor takes none).
    with_arguments = {parser.prog for parser, action in walk(PARSER)
                      if not isinstance(action, argparse._HelpAction)}
    assert with_arguments == {"mirror-bot", *(f"mirror-bot {c}" for c in COMMANDS if c != "doctor")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_help_page_ends_with_exit_codes_then_environment(command: str) -> None:
    page = COMMANDS[command].format_help()
    epilog = cli.HELP_PAGES[command].epilog()
    assert page.rstrip().endswith(epilog), "the epilog keeps its lines, at the end of the page"
    exits, environment = epilog.split("\n\nenvironment:\n")
    codes = [int(line.split()[0]) for line in exits.splitlines()[1:] if not line.startswith("     ")]
    assert exits.startswith("exit codes:\n") and codes[0] == 0 and codes[-1] == 2
    assert codes == sorted(set(codes))
    assert all(len(line) <= cli.HELP_WIDTH for line in epilog.splitlines())
    assert environment.startswith("  MIRROR_") or environment.startswith("  GITHUB_")


def test_the_pages_name_only_variables_config_reads_and_every_one_of_them() -> None:
    read = config_variables()
    named = set().union(*(page_variables(command) for command in COMMANDS))
    assert named - read == set(), "a page names a variable nothing reads"
    assert read - named == set(), "a variable config.py reads is on no page"
    assert set(cli.SKOPEO.names) == set(CHILD_VARIABLES)


# What each command asks bot/config.py for (bot/commands/*.py): the sections it requires, so a
# bad value there stops it, and what it uses.
MIRROR_SECTION = {"MIRROR_ALLOWLIST", "MIRROR_REGISTRY", "GITHUB_ACTIONS", "GITHUB_REPOSITORY_OWNER"}
CHECKED = {"MIRROR_TIMEOUT", "MIRROR_COPY_TIMEOUT", "MIRROR_RETRY_ATTEMPTS",
           "MIRROR_RETRY_BASE_DELAY", "MIRROR_COPY_PROCESSES", "MIRROR_BLOB_THRESHOLD",
           "MIRROR_BLOB_CHUNK", "MIRROR_BLOB_PARALLEL"}
LOGINS = {"MIRROR_USERNAME", "MIRROR_PASSWORD", "REGISTRY_AUTH_FILE", "CONTAINERS_REGISTRIES_CONF"}
COPYING = MIRROR_SECTION | CHECKED | LOGINS | {"MIRROR_BLOB_CACHE", "GITHUB_ACTOR", "GITHUB_TOKEN",
                                               *CHILD_VARIABLES}
GITHUB_SECTION = {"GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL",
                  "MIRROR_GITHUB_WRITE_INTERVAL", "MIRROR_GITHUB_SECONDARY_WAIT",
                  "MIRROR_GITHUB_BACKOFF", "MIRROR_GITHUB_TIMEOUT", "MIRROR_BOT_LOGIN",
                  "MIRROR_REQUEST_LABEL"}
EXPECTED = {
    "plan": (MIRROR_SECTION | CHECKED, LOGINS | GITHUB_SECTION | {"MIRROR_BLOB_CACHE"}),
    "sync": (COPYING, GITHUB_SECTION - {"GITHUB_TOKEN"}),
    "check-allowlist": ({"MIRROR_ALLOWLIST"}, {"MIRROR_REGISTRY", "MIRROR_TIMEOUT"}),
    "check-subscriptions": ({"MIRROR_SUBSCRIPTIONS", "MIRROR_ALLOWLIST"}, {"MIRROR_REGISTRY"}),
    "handle-event": (COPYING | GITHUB_SECTION | {"GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH",
                                                 "GITHUB_STEP_SUMMARY", "GITHUB_RUN_ID"}, set()),
    "sweep": (COPYING | GITHUB_SECTION, {"GITHUB_EVENT_PATH", "MIRROR_SUBSCRIPTIONS"}),
    "resync": (COPYING | GITHUB_SECTION, {"GITHUB_EVENT_PATH", "MIRROR_SUBSCRIPTIONS"}),
    "index": (MIRROR_SECTION | CHECKED | GITHUB_SECTION, LOGINS | {"GITHUB_EVENT_PATH"}),
    "follow": (COPYING | GITHUB_SECTION | {"MIRROR_SUBSCRIPTIONS"}, {"GITHUB_EVENT_PATH"}),
    "rewrite": (MIRROR_SECTION | CHECKED | LOGINS, GITHUB_SECTION - {"GITHUB_TOKEN"}),
    "doctor": (MIRROR_SECTION | CHECKED | LOGINS | GITHUB_SECTION, {"GITHUB_EVENT_PATH"}),
}


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_each_page_names_what_its_command_reads(command: str) -> None:
    named = page_variables(command)
    needed, not_read = EXPECTED[command]
    assert needed - named == set()
    assert named & not_read == set()


def test_the_top_page_points_to_the_commands_pages() -> None:
    page = PARSER.format_help()
    assert "COMMAND --help" in page
    assert page.rstrip().endswith("each command's --help lists the variables it reads.")
