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
# The registries the shipped allowlist allows from (and k8s.gcr.io, planned as registry.k8s.io).
EMPTY_UPSTREAMS = ("docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "k8s.gcr.io", "gcr.io",
                   "docker.elastic.co")


def test_no_hostile_title_copies_anything(testbed: Sandbox, tmp_path: Path) -> None:
    """The whole corpus through the real handler and syncer: the mirror receives nothing."""
    # Every registry the shipped allowlist names is an empty namespace upstream: what other
    # tests seeded (nginx:1.27, say) must not make an allowed pattern like `nginx:*` copy it.
    conf = tmp_path / "registries.conf"
    conf.write_text("".join(
        f'[[registry]]\nprefix = "{prefix}"\nlocation = "{testbed.upstream.host}/hostile/{prefix}"\n'
        'insecure = true\n' for prefix in EMPTY_UPSTREAMS)
        + f'[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
    config = testbed.config(MIRROR_ALLOWLIST=str(REPO_ROOT / "allowlist.yaml"),
                            CONTAINERS_REGISTRIES_CONF=str(conf))
    handler = request_handler(config, LocalForge(tmp_path / "forge", echo=False))
    handler.log = io.StringIO()
    testbed.mirror.mark()
    for number, title in enumerate(CORPUS, 1):
        issue = IssueSnapshot(number, title, "", "mallory", False, (Labels().request,), "open",
                              False, 0)
        assert handler.process_safely(issue).name in {"invalid", "denied"}
    assert testbed.mirror.manifest_requests()["PUT"] == 0
    assert testbed.mirror.blob_uploads() == 0
