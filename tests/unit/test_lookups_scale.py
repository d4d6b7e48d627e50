"""Look-ups grow with `--jobs`: each image synced at once sends its two HEADs together, so the
look-ups in flight, and the connections kept per host for them, follow the jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.adapters import build_syncer
from bot.config import load_config
from bot.copy.engine import SMALL_BLOB_STREAMS
from bot.copy.settings import lookups_in_flight


@pytest.mark.parametrize(("jobs", "lookups"), [(1, 16), (4, 16), (5, 20), (16, 64), (64, 64)])
def test_lookups_in_flight_follow_the_jobs_between_16_and_64(jobs: int, lookups: int) -> None:
    assert lookups_in_flight(jobs) == lookups


@pytest.mark.parametrize("jobs", [1, 16])
def test_the_syncer_and_its_connections_are_sized_for_the_jobs(tmp_path: Path, jobs: int) -> None:
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - docker.io/library/*\n")
    config = load_config({"MIRROR_ALLOWLIST": str(allowlist), "MIRROR_REGISTRY": "m.example.io",
                          "MIRROR_BLOB_CACHE": "off"})
    syncer = build_syncer(config, jobs)
    lookups = lookups_in_flight(jobs)
    assert syncer._lookups._pool._max_workers == lookups
    pool = syncer.registry.transport.pool  # type: ignore[attr-defined]
    assert pool.connection_pool_kw["maxsize"] == lookups + SMALL_BLOB_STREAMS
