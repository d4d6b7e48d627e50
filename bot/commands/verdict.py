"""A file check's verdict, as `check-allowlist` and `check-subscriptions` print it.

Rule: each problem on a line of its own (`file:line: problem`) on stderr and exit 1, or one
line saying the file is ok and exit 0.
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
