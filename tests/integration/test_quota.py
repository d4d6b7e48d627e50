"""The source's pull quota, respected: a stand-in for Docker Hub in front of a real registry (the
fault proxy with a PullQuota: quota headers on every manifest answer, a 429 with
TOOMANYREQUESTS once K manifest GETs are spent) and the real registry client, skopeo and mirror.

What must hold: copies in parallel do not spend the pulls on indexes and finish nothing; an image
the quota stops is deferred (error kind rate_limited, a resume time), spends nothing more and is
not asked for again in the run; a later run (a new window) finishes it, with upstream's digest;
every result tells the pulls it spent, and they add up to what the registry counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import timestamps
from bot.copy.engine import BlobStager
from bot.copy.model import SyncItem, SyncResult
from bot.copy.syncer import Syncer
from bot.image.reference import Reference, parse
from bot.policy.naming import Namer
from bot.registry.backoff import Backoff
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from sandbox.fault_proxy import FaultProxy, PullQuota, Rule, serve_proxy
from sandbox.images import BuiltImage
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, Sandbox, run_cli

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass
class QuotaBed:
    testbed: Sandbox
    upstream: FaultProxy
    conf: Path

    @property
    def quota(self) -> PullQuota:
        assert self.upstream.quota is not None
        return self.upstream.quota

    def syncer(self) -> Syncer:
        """One run's syncer (one process: one ledger per registry), as `mirror-bot sync` has."""
        credentials = Credentials()
        credentials.add(self.testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        client = RegistryClient(RegistriesConf.load(self.conf), credentials, 10,
                                retry=Backoff(attempts=2, base_delay=0.01),
                                mirrors=[self.testbed.mirror.host])
        client.transport.quotas.clock = lambda: NOW
        return Syncer(client, Skopeo(self.conf, credentials, timeout=120),
                      Backoff(attempts=2, base_delay=0.01), staging=BlobStager(client, None),
                      clock=lambda: NOW)

    def item(self, name: str, entries: int | None = None) -> SyncItem:
        source = parse(f"docker.io/library/{name}:1.0")
        return SyncItem(source, Namer(self.testbed.mirror.host).target(source), entries=entries)

    def manifest_gets(self) -> int:
        return sum(1 for method, path, _ in self.upstream.seen
                   if method == "GET" and "/manifests/" in path)

    def mirrored_digest(self, target: Reference) -> str | None:
        return self.testbed.client().head_digest(target)


@pytest.fixture
def bed(testbed: Sandbox, tmp_path: Path) -> Iterator[QuotaBed]:
    with serve_proxy(FaultProxy(testbed.upstream.host, quota=PullQuota(100))) as up:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{up.host}/docker.io"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{up.host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
        yield QuotaBed(testbed, up, conf)


def seed_many(bed: QuotaBed, name: str, count: int) -> dict[str, BuiltImage]:
    """`count` images of two platforms: each cold copy reads 1 index + 2 manifests."""
    return {f"{name}-{i}": bed.testbed.seed(f"{name}-{i}") for i in range(count)}


def by_status(results: list[SyncResult]) -> dict[str, list[SyncResult]]:
    grouped: dict[str, list[SyncResult]] = {}
    for result in results:
        grouped.setdefault(result.status, []).append(result)
    return grouped


def test_jobs_8_with_few_pulls_left_finish_what_fits_and_defer_the_rest_for_a_later_run(
        bed: QuotaBed, name: str) -> None:
    images = seed_many(bed, name, 8)
    bed.upstream.refill(limit=20)  # 8 cold copies need 24 pulls
    items = [bed.item(n) for n in images]
    results = bed.syncer().sync_all(items, jobs=8)
    grouped = by_status(results)
    assert set(grouped) == {"copied", "deferred"}, [(r.status, r.error) for r in results]
    # Nothing spent on an image that was then left unfinished, and the registry never had to
    # refuse one: the ledger knew what was left.
    assert all(r.pulls == 3 for r in grouped["copied"])
    assert all(r.pulls == 0 for r in grouped["deferred"])
    assert bed.quota.refused == 0
    assert sum(r.pulls for r in results) == bed.quota.spent == bed.manifest_gets()
    # An unknown image counts 1 + 10 pulls before its index is read: 20 pulls finish 4.
    assert len(grouped["copied"]) == 4
    for result in grouped["deferred"]:
        assert result.error is not None and result.error.kind == "rate_limited"
        resume = timestamps.parse(result.resume_after)
        assert resume is not None and NOW < resume <= NOW + timedelta(hours=6)
        assert bed.mirrored_digest(result.target) is None
        payload = result.to_json()
        assert (payload["status"], payload["error"]["kind"]) == ("deferred", "rate_limited")
        assert payload["resume_after"] == result.resume_after and payload["pulls"] == 0
    # A later run, in a new window: the deferred images finish, nothing lost.
    bed.upstream.refill()
    later = bed.syncer().sync_all([bed.item(str(r.source).split("/")[-1].split(":")[0])
                                   for r in grouped["deferred"]], jobs=8)
    assert [r.status for r in later] == ["copied"] * len(grouped["deferred"])
    for result in [*grouped["copied"], *later]:
        image = images[str(result.source).split("/")[-1].split(":")[0]]
        assert result.digest == image.index_digest
        assert bed.mirrored_digest(result.target) == image.index_digest
    assert bed.quota.refused == 0


def test_jobs_16_with_10_pulls_left_spend_none_on_indexes_they_cannot_finish(
        bed: QuotaBed, name: str) -> None:
    images = seed_many(bed, name, 16)
    bed.upstream.refill(limit=10)
    unknown = bed.syncer().sync_all([bed.item(n) for n in images], jobs=16)
    assert [r.status for r in unknown] == ["deferred"] * 16  # 1 + 10 each: none fits
    assert bed.quota.spent == 0 and bed.manifest_gets() == 0
    known = bed.syncer().sync_all([bed.item(n, entries=2) for n in images], jobs=16)
    grouped = by_status(known)
    assert (len(grouped["copied"]), len(grouped["deferred"])) == (3, 13)
    assert bed.quota.spent == 9 and bed.quota.refused == 0
    assert all(r.pulls == 0 for r in grouped["deferred"])


def test_the_entries_a_record_saw_let_every_pull_be_used(bed: QuotaBed, name: str) -> None:
    images = seed_many(bed, name, 6)
    bed.upstream.refill(limit=18)  # exactly 6 cold copies of 3 pulls each
    results = bed.syncer().sync_all([bed.item(n, entries=2) for n in images], jobs=8)
    assert [r.status for r in results] == ["copied"] * 6
    assert [r.pulls for r in results] == [3] * 6 and [r.entries for r in results] == [2] * 6
    assert bed.quota.spent == 18 and bed.quota.refused == 0


def test_an_index_larger_than_recorded_stops_before_its_platforms(bed: QuotaBed, name: str) -> None:
    image = bed.testbed.seed(name, platforms=("linux/amd64", "linux/arm64", "linux/s390x"))
    bed.upstream.refill(limit=3)  # the record said 2 entries: 3 pulls; the index has 3 now
    result = bed.syncer().sync(bed.item(name, entries=2))
    assert result.status == "deferred", result.error
    assert result.pulls == 1 and bed.quota.spent == 1 and bed.quota.refused == 0
    bed.upstream.refill(limit=100)
    again = bed.syncer().sync(bed.item(name, entries=2))
    assert again.status == "copied" and again.digest == image.index_digest
    assert again.pulls == 4 and again.entries == 3


def test_a_429_defers_the_image_and_nothing_more_is_read_there_in_this_run(
        bed: QuotaBed, name: str) -> None:
    seed_many(bed, name, 3)
    # Someone else sharing the address spent the quota between our HEAD and our GET.
    bed.upstream.add(Rule("status", "GET", "/manifests/", times=1, status=429,
                          headers={"Retry-After": "600"}))
    syncer = bed.syncer()
    results = syncer.sync_all([bed.item(f"{name}-{i}") for i in range(3)])
    assert [r.status for r in results] == ["deferred"] * 3
    assert [r.resume_after for r in results] == [timestamps.to_text(NOW + timedelta(seconds=600))] * 3
    # One GET refused, never asked again (no retry), and no other image GET anything.
    assert bed.manifest_gets() == 1
    assert [r.pulls for r in results] == [1, 0, 0]
    assert [h[2] for h in bed.upstream.hits] == ["status"]


def test_a_tag_already_mirrored_costs_no_pull_when_none_is_left(bed: QuotaBed, name: str) -> None:
    bed.testbed.seed(name)
    assert bed.syncer().sync(bed.item(name)).status == "copied"
    bed.upstream.refill(limit=0)
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "unchanged" and result.pulls == 0
    assert bed.quota.refused == 0


def test_sync_json_reports_deferred_images_and_pulls_and_exits_1(bed: QuotaBed, name: str) -> None:
    images = seed_many(bed, name, 3)
    bed.upstream.refill(limit=13)  # one cold copy (1 + 10 reserved, 3 spent) fits, no second
    env = bed.testbed.env(CONTAINERS_REGISTRIES_CONF=str(bed.conf))
    done = run_cli("sync", "--json", "--jobs", "8",
                   *(f"docker.io/library/{n}:1.0" for n in images), env=env)
    assert done.returncode == 1, done.stderr
    results = json.loads(done.stdout)["results"]
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["copied", "deferred", "deferred"], done.stderr
    for result in results:
        assert isinstance(result["pulls"], int)
        if result["status"] == "deferred":
            assert result["error"]["kind"] == "rate_limited" and result["pulls"] == 0
            assert timestamps.parse(result["resume_after"]) is not None
        else:
            assert result["pulls"] == 3 and result["resume_after"] is None
    assert bed.quota.refused == 0
