"""The committed corpus of hostile issue titles through handle-event against real registries:
no title copies anything the allowlist does not name."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bot.commands.request import request_handler
from bot.forge.local import LocalForge
from bot.forge.protocol import IssueSnapshot
from bot.records.labels import Labels
from tests.fixtures import DATA, REPO_ROOT, Sandbox

CORPUS = json.loads((DATA / "hostile_titles.json").read_text())


def test_no_hostile_title_copies_anything(testbed: Sandbox, tmp_path: Path) -> None:
    """The whole corpus through the real handler and syncer: the mirror receives nothing."""
    config = testbed.config(MIRROR_ALLOWLIST=str(REPO_ROOT / "allowlist.yaml"))
    handler = request_handler(config, LocalForge(tmp_path / "forge", echo=False))
    handler.log = io.StringIO()
    testbed.mirror.mark()
    for number, title in enumerate(CORPUS, 1):
        issue = IssueSnapshot(number, title, "", "mallory", False, (Labels().request,), "open",
                              False, 0)
        assert handler.process_safely(issue).name in {"invalid", "denied"}
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert testbed.mirror.blob_uploads() == 0
