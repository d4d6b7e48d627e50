"""The commands' wiring, one module per group (as pipx's commands/): each function reads the
configuration and files it needs, builds the edges (bot/commands/adapters.py) and runs a flow. `bot/cli.py`
parses the command line and imports a module here only when its command runs, so `--version`
and `plan` stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def report_problems(path: Path, problems: Sequence[object], command: str, ok: str = "") -> int:
    """A check's verdict: each problem as `file:line: problem` on stderr and exit 1, or ok."""
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s); fix them and run {command} again",
              file=sys.stderr)
        return 1
    print(f"{path}: ok{f' ({ok})' if ok else ''}")
    return 0
