"""registries.conf and auth.json, end to end: a missing auth file stops `sync` in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures import REPO_ROOT, Sandbox


def test_a_missing_auth_file_stops_sync_with_exit_2(testbed: Sandbox, tmp_path: Path) -> None:
    env = testbed.env(REGISTRY_AUTH_FILE=str(tmp_path / "absent.json"))
    completed = subprocess.run([sys.executable, "-m", "bot", "sync", "nginx"], env=env,
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                               check=False)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "REGISTRY_AUTH_FILE" in completed.stderr
    assert "Traceback" not in completed.stderr
