"""Wiring for `check-allowlist`, `rewrite` and `doctor`: the commands that check or change
files and set-ups rather than handle requests.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bot.commands.adapters import build_registry_client, credentials_for, github_forge
from bot.commands.verdict import report_problems
from bot.config import Loaded
from bot.flows.doctor import Edges, diagnose, exit_code
from bot.flows.rewrite import Format, Mode, Streams, rewrite_files
from bot.policy.allowlist_file import check_allowlist_file
from bot.registry.skopeo import Skopeo


@dataclass(frozen=True)
class CheckAllowlistOptions:
    file: Path | None  # else MIRROR_ALLOWLIST's


def check_allowlist(options: CheckAllowlistOptions, loaded: Loaded) -> int:
    path = options.file or loaded.files.allowlist
    allowlist, problems = check_allowlist_file(path)
    return report_problems(path, problems, "check-allowlist",
                           f"{len(allowlist.allow)} allow, {len(allowlist.deny)} deny")


@dataclass(frozen=True)
class RewriteOptions:
    files: Sequence[str]  # paths, or - for standard input
    check: bool
    diff: bool
    all_allowed: bool
    format: str | None


def rewrite(options: RewriteOptions, loaded: Loaded) -> int:
    mode = Mode.CHECK if options.check else Mode.DIFF if options.diff else Mode.WRITE
    config = loaded.config()
    checker = None if options.all_allowed else build_registry_client(config).head_digest
    return rewrite_files(options.files, mode=mode, config=config, checker=checker, root=Path.cwd(),
                         format=Format(options.format) if options.format else None,
                         streams=Streams(sys.stdin.buffer, sys.stdout.buffer, sys.stderr))


@dataclass(frozen=True)
class DoctorOptions:
    """The doctor takes no options: it checks what the environment configures."""


def doctor(options: DoctorOptions, loaded: Loaded) -> int:
    # `skopeo --version` runs as every other skopeo call: with the environment config built.
    edges = Edges(skopeo_version=Skopeo(environment=loaded.skopeo_environment).version,
                  credentials=credentials_for, registry_client=build_registry_client,
                  forge=partial(github_forge, loaded.github, loaded.bot_login))
    checks = []
    for check in diagnose(loaded, edges):
        print(check.line(), flush=True)
        checks.append(check)
    return exit_code(checks)
