"""Wiring for `check-allowlist`, `rewrite` and `doctor`: the commands that check or change
files and set-ups rather than handle requests.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

from bot.commands.adapters import build_registry_client, credentials_for, github_forge
from bot.commands.output import redacting
from bot.commands.verdict import report_problems
from bot.config import Loaded
from bot.flows.doctor import Edges, diagnose, exit_code
from bot.flows.rewrite import Format, Mode, Streams, rewrite_files
from bot.policy.allowlist_file import check_allowlist_file
from bot.registry.skopeo import Skopeo


@redacting
def check_allowlist(args: argparse.Namespace, loaded: Loaded) -> int:
    path = args.file or loaded.files.allowlist
    allowlist, problems = check_allowlist_file(path)
    return report_problems(path, problems, "check-allowlist",
                           f"{len(allowlist.allow)} allow, {len(allowlist.deny)} deny")


@redacting
def rewrite(args: argparse.Namespace, loaded: Loaded) -> int:
    mode = Mode.CHECK if args.check else Mode.DIFF if args.diff else Mode.WRITE
    config = loaded.config()
    checker = None if args.all_allowed else build_registry_client(config).head_digest
    return rewrite_files(args.files, mode=mode, config=config, checker=checker,
                         format=Format(args.format) if args.format else None,
                         streams=Streams(sys.stdin.buffer, sys.stdout.buffer, sys.stderr))


@redacting
def doctor(args: argparse.Namespace, loaded: Loaded) -> int:
    # `skopeo --version` runs as every other skopeo call: with the environment config built.
    edges = Edges(skopeo_version=Skopeo(environment=loaded.skopeo_environment).version,
                  credentials=credentials_for, registry_client=build_registry_client,
                  forge=partial(github_forge, loaded.github, loaded.bot_login))
    checks = []
    for check in diagnose(loaded, edges):
        print(check.line(), flush=True)
        checks.append(check)
    return exit_code(checks)
