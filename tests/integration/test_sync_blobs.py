"""Large blobs in ranges and shared blobs mounted, through a fault proxy in front of a real
upstream registry, with real skopeo and the real transport. Every copy ends with upstream's
digest at the mirror, or fails with nothing recorded (no tag, no blob, no cache entry)."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.copy.cache import BlobLocations
from bot.copy.engine import BlobStager, ByteBudget
from bot.copy.model import SyncItem
from bot.copy.syncer import Syncer
from bot.errors import ErrorKind
from bot.image.reference import Reference, parse
from bot.registry.backoff import Backoff
from bot.registry.blobs import BlobCopySettings, ProgressPrinter
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from sandbox.fault_proxy import FaultProxy, Rule, serve_proxy
from sandbox.images import BuiltImage, build_image, push
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, REPO_ROOT, Sandbox

KiB = 1024
LARGE = 600 * KiB  # above the tests' threshold: copied in ranges
SETTINGS = BlobCopySettings(threshold=256 * KiB, chunk_size=64 * KiB, parallel=4)


@dataclass
class Bed:
    testbed: Sandbox
    upstream: FaultProxy
    conf: Path
    cache: Path
    progress: io.StringIO

    def client(self) -> RegistryClient:
        credentials = Credentials()
        credentials.add(self.testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        return RegistryClient(RegistriesConf.load(self.conf), credentials, 10,
                              mirrors=[self.testbed.mirror.host])

    def syncer(self) -> Syncer:
        client = self.client()
        credentials = Credentials()
        credentials.add(self.testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        staging = BlobStager(client, BlobLocations.load(self.cache), SETTINGS,
                             ProgressPrinter(self.progress, interval=0))
        return Syncer(client, Skopeo(self.conf, credentials, timeout=120),
                      Backoff(attempts=2, base_delay=0.01), staging=staging)

    def seed(self, name: str, shared: str | None = None, shared_layers: int = 1,
             tag: str = "1.0") -> BuiltImage:
        """Two platforms, each a large first layer and a small second one; layers shared with
        every image seeded with the same `shared` base."""
        image = build_image(self.testbed.workdir / "layouts" / f"{name}-{tag}", tag, seed=name,
                            layer_sizes=(LARGE, 4 * KiB), shared_base=shared or name,
                            shared_layers=shared_layers)
        push(image, f"{self.testbed.upstream.host}/docker.io/library/{name}:{tag}")
        return image

    def item(self, name: str, tag: str = "1.0") -> SyncItem:
        source = parse(f"docker.io/library/{name}:{tag}")
        return SyncItem(source, self.testbed.config().namer.target(source))

    def mirror_ref(self, name: str, tag: str = "1.0", digest: str | None = None) -> Reference:
        return Reference(self.testbed.mirror.host, f"docker.io/library/{name}",
                         None if digest else tag, digest)

    def holds(self, name: str, digest: str) -> bool:
        """Whether the mirror's repository for `name` serves blob `digest` (a HEAD of our own)."""
        login = base64.b64encode(f"{MIRROR_USER}:{MIRROR_PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            f"http://{self.testbed.mirror.host}/v2/docker.io/library/{name}/blobs/{digest}",
            method="HEAD", headers={"Authorization": f"Basic {login}"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                return True
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise

    def cached(self, name: str, digest: str) -> bool:
        return f"docker.io/library/{name}" in BlobLocations.load(self.cache).repositories(
            self.testbed.mirror.host, digest)


def large_blobs(image: BuiltImage) -> set[str]:
    layout = image.layout / "blobs" / "sha256"
    return {f"sha256:{p.name}" for p in layout.iterdir() if p.stat().st_size >= LARGE}


@pytest.fixture
def bed(testbed: Sandbox, tmp_path: Path) -> Iterator[Bed]:
    with serve_proxy(FaultProxy(testbed.upstream.host)) as upstream:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{upstream.host}/docker.io"\n'
            f'insecure = true\n[[registry]]\nlocation = "{upstream.host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
        yield Bed(testbed, upstream, conf, tmp_path / "cache" / "blob-locations.json",
                  io.StringIO())


def ranged_gets(bed: Bed, digest: str) -> list[str]:
    return [r for m, p, r in bed.upstream.seen if m == "GET" and p.endswith(digest)]


def test_large_blobs_move_in_ranges_and_the_digest_is_upstreams(bed: Bed, name: str) -> None:
    image = bed.seed(name)
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    for digest in large_blobs(image):
        ranges = ranged_gets(bed, digest)
        assert len(ranges) >= LARGE // SETTINGS.chunk_size and all(ranges)  # skopeo fetched none
        assert bed.holds(name, digest)
        assert bed.cached(name, digest)
        assert digest[:19] in bed.progress.getvalue()  # a progress line per large blob
    assert result.size and result.size > 2 * LARGE


def test_a_registry_that_ignores_range_is_read_as_one_stream(bed: Bed, name: str) -> None:
    image = bed.seed(name)
    bed.upstream.add(Rule("ignore_range", "GET", "/blobs/", times=-1))
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    assert any(action == "ignore_range" for _, _, action in bed.upstream.hits)


def test_an_upstream_that_lies_about_content_range_is_detected(bed: Bed, name: str) -> None:
    image = bed.seed(name)
    bed.upstream.add(Rule("wrong_range", "GET", "/blobs/", times=-1, with_header="Range"))
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "copied", result.error  # the lie is caught: read as one stream
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    for digest in large_blobs(image):
        assert "" in ranged_gets(bed, digest)  # the fallback: a GET without Range


def test_a_short_body_fails_with_nothing_recorded_then_a_rerun_completes(bed: Bed,
                                                                         name: str) -> None:
    image = bed.seed(name)
    [digest, *_] = sorted(large_blobs(image))
    bed.upstream.add(Rule("short_body", "GET", digest, times=-1, with_header="Range",
                          after_bytes=1000))
    first = bed.syncer().sync(bed.item(name))
    assert first.status == "failed" and first.error.kind == ErrorKind.NETWORK
    assert first.transient
    assert bed.client().head_digest(bed.mirror_ref(name)) is None
    assert not bed.holds(name, digest)
    assert not bed.cached(name, digest)
    bed.upstream.clear()
    second = bed.syncer().sync(bed.item(name))
    assert second.status == "copied", second.error
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    assert bed.cached(name, digest)


def test_a_shared_layer_is_mounted_from_another_repository(bed: Bed, name: str) -> None:
    first = bed.seed(f"{name}-a", shared=f"{name}-base", shared_layers=2)
    second = bed.seed(f"{name}-b", shared=f"{name}-base", shared_layers=2)
    shared = first.blobs & second.blobs
    assert len(shared) == 4  # a large and a small layer per platform
    assert bed.syncer().sync(bed.item(f"{name}-a")).status == "copied"
    bed.upstream.reset_counts()
    bed.testbed.mirror.mark()
    result = bed.syncer().sync(bed.item(f"{name}-b"))  # a new process: only the cache file knows
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(f"{name}-b")) == second.index_digest
    assert sum(bed.upstream.bytes_sent(digest) for digest in shared) == 0
    mounts = [p for m, p, status in bed.testbed.mirror.requests()
              if m == "POST" and "mount=" in p and status == 201]
    assert len(mounts) == len(shared)


def test_a_stale_location_falls_back_to_a_ranged_copy(bed: Bed, name: str) -> None:
    image = bed.seed(name)
    cache = BlobLocations.load(bed.cache)
    cache.record(bed.testbed.mirror.host, "docker.io/library/nowhere", image.blobs)
    cache.save()
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    for digest in large_blobs(image):
        assert ranged_gets(bed, digest)


def test_a_poisoned_cache_file_never_fails_a_copy(bed: Bed, name: str) -> None:
    """Issue 27 item 5: one invalid repository name in the cache once crashed every copy of
    its blob, run after run. Entries that are not a host, a sha256 digest and a repository path
    are dropped when the file is read, the good ones still mount, and the next save leaves
    only the good ones."""
    first = bed.seed(f"{name}-a", shared=f"{name}-base", shared_layers=2)
    second = bed.seed(f"{name}-b", shared=f"{name}-base", shared_layers=2)
    shared = first.blobs & second.blobs
    assert bed.syncer().sync(bed.item(f"{name}-a")).status == "copied"
    host, good = bed.testbed.mirror.host, f"docker.io/library/{name}-a"
    bad = ["../../v2/x", "Docker.io/Library/X", "a//b", "x?mount=y", "", "a" * 300, 7, None]
    digests: dict[str, object] = {digest: [good, *bad] for digest in shared}  # bad ones newest
    digests |= {"sha256:" + "A" * 64: [good], "md5:00": [good], f"{next(iter(shared))}x": [good]}
    digests |= {digest: "not a list" for digest in second.blobs - shared}
    bed.cache.write_text(json.dumps({"version": 1, "registries": {
        host: digests, "not a host!": {next(iter(shared)): [good]}, "m.example.io": ["x"]}}))
    bed.upstream.reset_counts()
    result = bed.syncer().sync(bed.item(f"{name}-b"))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(f"{name}-b")) == second.index_digest
    assert sum(bed.upstream.bytes_sent(digest) for digest in shared) == 0  # still mounted
    saved = json.loads(bed.cache.read_text())["registries"]
    assert set(saved) == {host}
    assert set(saved[host]) == second.blobs
    assert {repository for places in saved[host].values() for repository in places} == {
        good, f"docker.io/library/{name}-b"}


def test_a_large_blob_the_repository_holds_is_not_fetched_again(bed: Bed, name: str) -> None:
    bed.seed(name, shared=f"{name}-base", tag="1.0")
    moved = bed.seed(name, shared=f"{name}-base", tag="2.0")
    syncer = bed.syncer()
    assert syncer.sync(bed.item(name, "1.0")).status == "copied"
    bed.upstream.reset_counts()
    result = syncer.sync(bed.item(name, "2.0"))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(name, "2.0")) == moved.index_digest
    assert all(bed.upstream.bytes_sent(digest) == 0 for digest in large_blobs(moved))


def test_a_ranged_copy_killed_midway_records_nothing_and_the_next_run_completes(
        bed: Bed, name: str) -> None:
    image = bed.seed(name)
    large = sorted(large_blobs(image))
    bed.upstream.rate = 64 * KiB  # per connection: the copy takes seconds, long enough to kill
    allowlist = bed.cache.parent.parent / "allowlist.yaml"
    allowlist.write_text("allow:\n  - docker.io/library/*\n")  # no size limit
    env = bed.testbed.env(CONTAINERS_REGISTRIES_CONF=str(bed.conf),
                          MIRROR_ALLOWLIST=str(allowlist), MIRROR_BLOB_CACHE=str(bed.cache),
                          MIRROR_BLOB_THRESHOLD="256KiB", MIRROR_BLOB_CHUNK="64KiB",
                          MIRROR_BLOB_PARALLEL="2")
    argv = [sys.executable, "-m", "bot", "sync", "--json", f"docker.io/library/{name}:1.0"]
    process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while (bed.upstream.bytes_sent(large[0]) == 0 and process.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.05)  # waiting for the condition "the ranged copy has started"
    assert process.poll() is None, "the sync ended before its ranged copy started"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert 0 < bed.upstream.bytes_sent(large[0]) < LARGE  # killed midway
    assert bed.client().head_digest(bed.mirror_ref(name)) is None
    # the blob cut off midway is not at the mirror (a whole blob before it may be: a blob
    # committed after its digest was checked is complete, whoever uses it)
    assert not bed.holds(name, large[0])
    assert not bed.cache.exists() or not any(bed.cached(name, d) for d in image.blobs)
    bed.upstream.rate = 0
    rerun = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["results"][0]["digest"] == image.index_digest
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    assert all(bed.cached(name, d) for d in image.blobs)


def layers_and_configs(image: BuiltImage) -> tuple[set[str], set[str]]:
    """The image's layers and configs, from the manifests in its layout."""
    layers: set[str] = set()
    configs: set[str] = set()
    for digest in image.manifests.values():
        manifest = json.loads((image.layout / "blobs" / "sha256" / digest[7:]).read_bytes())
        layers |= {layer["digest"] for layer in manifest["layers"]}
        configs.add(manifest["config"]["digest"])
    return layers, configs


def test_small_blobs_are_copied_by_mirror_bot_and_skopeo_finds_them(bed: Bed, name: str) -> None:
    image = bed.seed(name)
    bed.testbed.mirror.mark()
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    layers, configs = layers_and_configs(image)
    small = (layers | configs) - large_blobs(image)
    assert small and len(layers - large_blobs(image)) == 2  # the 4 KiB layer of each platform
    for digest in small:
        ours = [r for r in ranged_gets(bed, digest) if r]  # the transport asks for a range
        assert len(ours) == 1, digest  # fetched once, by mirror-bot
        assert bed.holds(name, digest)
    for digest in layers - large_blobs(image):
        assert "" not in ranged_gets(bed, digest)  # skopeo fetched no layer itself
    commits = [p for m, p, status in bed.testbed.mirror.requests()
               if m == "PUT" and f"/{name}/blobs/uploads/" in p and status == 201]
    assert len(commits) == len(small | large_blobs(image))  # skopeo uploaded nothing itself


def test_a_small_blob_mirror_bot_cannot_fetch_is_left_to_skopeo(bed: Bed, name: str) -> None:
    """Our ranged GETs of the small blobs fail; skopeo's plain GETs do not: the copy still
    ends with upstream's digest, skopeo having copied those blobs itself."""
    image = bed.seed(name)
    layers, configs = layers_and_configs(image)
    small = (layers | configs) - large_blobs(image)
    for digest in small:
        bed.upstream.add(Rule("status", "GET", digest, times=-1, status=404, with_header="Range"))
    result = bed.syncer().sync(bed.item(name))
    assert result.status == "copied", result.error
    assert bed.client().head_digest(bed.mirror_ref(name)) == image.index_digest
    for digest in small:
        assert "" in ranged_gets(bed, digest)  # skopeo's plain GET


def test_a_byte_budget_never_lets_more_than_its_limit_be_held() -> None:
    budget = ByteBudget(10)
    held, most = 0, 0
    lock = threading.Lock()

    def hold(size: int) -> None:
        nonlocal held, most
        with budget.hold(size):
            with lock:
                held += min(size, 10)
                most = max(most, held)
            with lock:
                held -= min(size, 10)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hold, [4, 6, 3, 25, 10, 1] * 10))  # 25: above the limit, holds it all
    assert 0 < most <= 10 and held == 0
