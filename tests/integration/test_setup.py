"""The first minutes: scripts/setup.sh waits for another apt instead of failing, installs Chromium
and the CJK font only for `make test`, and ends by saying how to run the CLI; `make demo` shows
each issue's title before the bot's comments on it.

setup.sh runs for real from a copy of the repository whose .venv is already installed, with
stubs of `apt-get`, `sudo`, `id` and `dpkg-query` first on PATH that record how they were called:
no test runs apt or holds the real dpkg lock.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.testbed import tools_installed
from tests.fixtures import REPO_ROOT

BASE_PACKAGES = ["skopeo", "docker-registry", "apache2-utils", "python3-venv"]
TEST_PACKAGES = ["chromium", "fonts-noto-cjk"]
LISTS_LOCKED = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 2770 (apt-get)"

STUBS = {
    # Records its arguments and the frontend it was given; fails `update` while LOCKED_UPDATES
    # (a counter file) is above zero, as apt does while another apt holds the lists' lock.
    "apt-get": f"""#!/bin/bash
printf 'apt-get DEBIAN_FRONTEND=%s %s\\n' "${{DEBIAN_FRONTEND-}}" "$(printf '%q ' "$@")" >> "$RECORD"
if [[ " $* " == *" update "* && -f $STUB_DIR/locked ]]; then
  left=$(cat "$STUB_DIR/locked")
  if ((left > 0)); then
    echo $((left - 1)) > "$STUB_DIR/locked"
    echo "${{APT_ERROR:-{LISTS_LOCKED}}}" >&2
    exit 100
  fi
fi
""",
    "sudo": """#!/bin/bash
printf 'sudo %s\\n' "$(printf '%q ' "$@")" >> "$RECORD"
exec "$@"
""",
    "id": """#!/bin/bash
[[ $1 == -u ]] && echo "$STUB_UID"
""",
    # Installed: the packages named in INSTALLED.
    "dpkg-query": """#!/bin/bash
package=${!#}
[[ " $INSTALLED " == *" $package "* ]] && printf 'install ok installed' && exit 0
exit 1
""",
}


@dataclass
class Setup:
    """A copy of the repository's set-up script with its .venv already installed."""

    root: Path
    stubs: Path

    @property
    def record(self) -> Path:
        return self.stubs / "record"

    def run(self, *args: str, uid: int = 1000, installed: str = "", locked: int = 0,
            **env: str) -> subprocess.CompletedProcess[str]:
        (self.stubs / "locked").write_text(str(locked))
        self.record.write_text("")
        environment = {"PATH": f"{self.stubs}:/usr/bin:/bin", "HOME": str(self.root),
                       "RECORD": str(self.record), "STUB_DIR": str(self.stubs),
                       "STUB_UID": str(uid), "INSTALLED": installed,
                       "SETUP_APT_RETRY_INTERVAL": "0", **env}
        return subprocess.run(["bash", str(self.root / "scripts" / "setup.sh"), *args],
                              env=environment, capture_output=True, text=True, timeout=60,
                              check=False)

    def calls(self) -> list[list[str]]:
        return [shlex.split(line) for line in self.record.read_text().splitlines()]

    def apt_calls(self) -> list[list[str]]:
        return [call[1:] for call in self.calls() if call[0] == "apt-get"]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    root, stubs = tmp_path / "repo", tmp_path / "stubs"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    for name in ("pyproject.toml", "requirements/runtime.txt", "requirements/lint.txt"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text("")
        os.utime(root / name, (1_000_000_000, 1_000_000_000))
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".installed").write_text("")  # newer than the lock: pip is not run
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    return Setup(root, stubs)


def installs(call: list[str]) -> list[str]:
    return call[call.index("--no-install-recommends") + 1:]


def test_every_apt_call_waits_for_the_dpkg_lock_and_runs_through_sudo(setup: Setup) -> None:
    completed = setup.run()
    assert completed.returncode == 0, completed.stderr
    calls = setup.calls()
    assert [call[0] for call in calls] == ["sudo", "apt-get", "sudo", "apt-get"]
    assert [call[1:4] for call in calls if call[0] == "sudo"] == [
        ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]] * 2
    update, install = setup.apt_calls()
    for call in (update, install):
        assert call[:3] == ["DEBIAN_FRONTEND=noninteractive", "-o", "DPkg::Lock::Timeout=600"]
    assert update[3] == "update"
    assert install[3] == "install" and installs(install) == BASE_PACKAGES


def test_the_lock_timeout_can_be_set_and_root_needs_no_sudo(setup: Setup) -> None:
    completed = setup.run(uid=0, SETUP_APT_LOCK_TIMEOUT="30")
    assert completed.returncode == 0, completed.stderr
    assert [call[0] for call in setup.calls()] == ["apt-get", "apt-get"]
    assert all("DPkg::Lock::Timeout=30" in call for call in setup.apt_calls())
    assert "waiting up to 30s" in completed.stderr


def test_chromium_and_the_cjk_font_only_for_the_tests(setup: Setup) -> None:
    assert setup.run().returncode == 0
    assert not set(TEST_PACKAGES) & set(installs(setup.apt_calls()[-1]))

    completed = setup.run("--for-tests", installed="skopeo docker-registry")
    assert completed.returncode == 0, completed.stderr
    assert installs(setup.apt_calls()[-1]) == ["apache2-utils", "python3-venv", *TEST_PACKAGES]


def test_nothing_missing_means_no_apt_at_all(setup: Setup) -> None:
    completed = setup.run("--for-tests", installed=" ".join(BASE_PACKAGES + TEST_PACKAGES))
    assert completed.returncode == 0, completed.stderr
    assert setup.calls() == []


def test_update_tries_again_while_another_apt_holds_the_lists_lock(setup: Setup) -> None:
    completed = setup.run(locked=2)
    assert completed.returncode == 0, completed.stderr
    assert [call[3] for call in setup.apt_calls()] == ["update", "update", "update", "install"]
    assert completed.stderr.count("another apt holds the package lists' lock") == 2


def test_update_gives_up_when_the_wait_is_over_or_the_error_is_another(setup: Setup) -> None:
    completed = setup.run(locked=5, SETUP_APT_LOCK_TIMEOUT="0")
    assert completed.returncode != 0
    assert [call[3] for call in setup.apt_calls()] == ["update"]  # no install after it
    assert LISTS_LOCKED in completed.stderr
    assert completed.stderr.rstrip().endswith(
        "setup: apt-get update failed (above); run scripts/setup.sh again once it is fixed")

    unreachable = "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease"
    completed = setup.run(locked=5, APT_ERROR=unreachable)
    assert completed.returncode != 0 and unreachable in completed.stderr
    assert [call[3] for call in setup.apt_calls()] == ["update"]  # not a lock: no second try


def test_an_unknown_argument_is_a_usage_error(setup: Setup) -> None:
    completed = setup.run("--chromium")
    assert completed.returncode == 2
    assert completed.stderr == ("setup: unknown argument '--chromium'; "
                                "usage: scripts/setup.sh [--for-tests]\n")
    assert setup.calls() == []


def test_setup_ends_by_saying_how_to_run_the_cli_and_the_readme_says_it_too(setup: Setup) -> None:
    completed = setup.run(installed=" ".join(BASE_PACKAGES))
    assert completed.returncode == 0, completed.stderr
    last = completed.stdout.strip().splitlines()
    assert last[0].startswith("setup: done. The CLI is .venv/bin/mirror-bot")
    assert ". .venv/bin/activate" in last[-1]
    top = (REPO_ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert ".venv/bin/mirror-bot" in top and ". .venv/bin/activate" in top


def make_dry_run(target: str) -> list[str]:
    # Under `make test` this runs inside make: without its variables, and without the
    # "Entering directory" lines a nested make prints.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    return subprocess.run(["make", "--no-print-directory", "--dry-run", "--always-make", target],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_make_test_asks_for_the_browser_and_make_demo_does_not() -> None:
    assert make_dry_run("test")[0].split() == ["./scripts/setup.sh", "--for-tests"]
    assert make_dry_run("demo")[0].split() == ["./scripts/setup.sh"]
    assert make_dry_run("unit")[0].split() == ["./scripts/setup.sh"]


@pytest.mark.skipif(not tools_installed(), reason="skopeo and docker-registry: scripts/setup.sh")
def test_the_demo_shows_each_issue_title_before_the_comments_on_it() -> None:
    completed = subprocess.run([sys.executable, "-m", "sandbox.demo"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=300, check=False,
                               env={k: v for k, v in os.environ.items() if k != "NO_COLOR"})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    for number, title in ((1, "docker.io/library/hello-mirror:1.0"),
                          (2, "docker pull evil.example.com/miner:latest")):
        shown = lines.index(f"title: {title}")
        assert lines[shown - 1].startswith(f"== issue #{number} opened by @")
        assert lines[shown + 1] == f"--- comment on issue #{number} ---"
    assert "digests match" in lines


@pytest.mark.skipif(not tools_installed(), reason="skopeo and docker-registry: scripts/setup.sh")
def test_the_kept_demo_serves_plan_and_sync_until_interrupted() -> None:
    demo = subprocess.Popen([sys.executable, "-m", "sandbox.demo", "--keep"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert demo.stdout is not None
        shown: list[str] = []
        while not (shown and shown[-1].endswith("/env.sh")):
            line = demo.stdout.readline()
            assert line, "the demo ended before it said how to use its registries:\n" + "".join(shown)
            shown.append(line.rstrip("\n"))
        env_file = shown[-1].removeprefix(". ")
        try_it = [demo.stdout.readline().strip() for _ in range(2)]
        assert try_it[0].endswith("/.venv/bin/mirror-bot plan "
                                  "'docker pull docker.io/library/hello-mirror:1.0'")
        assert try_it[1].endswith("/.venv/bin/mirror-bot sync docker.io/library/hello-mirror:1.0")
        plan = in_demo_env(env_file, "plan", "--json", "docker pull docker.io/library/hello-mirror:1.0")
        assert plan["images"][0]["decision"] == "allowed"
        sync = in_demo_env(env_file, "sync", "--json", "docker.io/library/hello-mirror:1.0")
        assert [r["status"] for r in sync["results"]] == ["unchanged"]  # the demo mirrored it
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        assert demo.stdout.read().strip().endswith("stopping the registries")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def in_demo_env(env_file: str, *args: str) -> dict:
    """`mirror-bot ARGS` in a shell that sourced the demo's env.sh, as its instructions say."""
    command = " ".join(shlex.quote(word) for word in [sys.executable, "-m", "bot", *args])
    completed = subprocess.run(
        ["bash", "-c", f". {shlex.quote(env_file)} && {command}"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "GITHUB_"))})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)
