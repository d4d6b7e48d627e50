"""Wiring for `check-allowlist`, `rewrite` and `doctor`: the commands that check or change
files and set-ups rather than handle requests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from bot.commands import report_problems
from bot.commands.adapters import build_forge, build_registry_client, credentials_for
from bot.config import allowlist_path, load_config
from bot.flows.doctor import Edges, diagnose, exit_code
from bot.flows.rewrite import Format, Mode, Streams, rewrite_files
from bot.policy.allowlist_file import check_allowlist_file
from bot.registry.skopeo import Skopeo

Env = Mapping[str, str]


def check_allowlist(args: argparse.Namespace, env: Env) -> int:

    path = args.file or allowlist_path(env)
    allowlist, problems = check_allowlist_file(path)
    return report_problems(path, problems, "check-allowlist",
                           f"{len(allowlist.allow)} allow, {len(allowlist.deny)} deny")


def rewrite(args: argparse.Namespace, env: Env) -> int:

    mode = Mode.CHECK if args.check else Mode.DIFF if args.diff else Mode.WRITE
    config = load_config(env)
    checker = None if args.all_allowed else build_registry_client(config).head_digest
    return rewrite_files(args.files, mode=mode, config=config, checker=checker,
                         format=Format(args.format) if args.format else None,
                         streams=Streams(sys.stdin.buffer, sys.stdout.buffer, sys.stderr))


def doctor(args: argparse.Namespace, env: Env) -> int:

    edges = Edges(skopeo_version=Skopeo().version, credentials=credentials_for,
                  registry_client=build_registry_client, forge=build_forge)
    checks = []
    for check in diagnose(env, edges):
        print(check.line(), flush=True)
        checks.append(check)
    return exit_code(checks)
