"""The process entry (`mirror-bot`, `python -m bot`): a command's imports are frozen out of the
garbage collector's passes, and the collector runs for the command itself; `main` called as a
library (the tests, other tools) leaves the collector as it found it; a command imports only
what it runs with."""

from __future__ import annotations

import gc
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from tests.fixtures import REPO_ROOT

ROOT = REPO_ROOT
# Runs `python -m bot ARGS` as __main__ in this interpreter, then reports the collector's state.
AS_MAIN = """
import gc, runpy, sys
sys.argv = ["bot", *sys.argv[1:]]
try:
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code
print(f"exit={code} collecting={gc.isenabled()} frozen={gc.get_freeze_count()} "
      f"imported={'bot.commands.tools' in sys.modules}", file=sys.stderr)
"""


def allowlist(tmp_path: Path) -> Path:
    path = tmp_path / "allowlist.yaml"
    path.write_text("allow:\n  - docker.io/library/nginx\n")
    return path


def test_python_m_bot_freezes_the_command_imports_and_collects_while_it_runs(
        tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", AS_MAIN, "check-allowlist",
                          str(allowlist(tmp_path))], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    report = dict(word.split("=") for word in run.stderr.splitlines()[-1].split())
    frozen = int(report.pop("frozen"))
    assert report == {"exit": "0", "collecting": "True", "imported": "True"}, run.stderr
    assert frozen > 10_000  # the interpreter's and the command's objects


def test_main_as_a_library_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    frozen = gc.get_freeze_count()
    assert main(["check-allowlist", str(allowlist(tmp_path))]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_the_console_script_is_the_process_entry() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"mirror-bot": "bot.cli:entry"}


@pytest.mark.parametrize(("command", "not_loaded"), [
    ("sync", ["github", "jinja2", "rapidfuzz"]),  # no GitHub, no comments, no near misses
    ("plan", ["urllib3", "github", "jinja2", "rapidfuzz"]),  # asks no registry either
])
def test_a_command_imports_only_what_it_runs_with(command: str, not_loaded: list[str]) -> None:
    probe = (f"import sys, bot.commands.{command}; "
             f"print(*[name for name in {not_loaded!r} if name in sys.modules])")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout.split()
    assert loaded == []
