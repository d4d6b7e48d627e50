"""Every pull counts: upstream manifest and blob GETs of a copy, counted at a proxy in front of a
real registry, against plain `skopeo copy --all --preserve-digests` of the same image.

Docker Hub counts a manifest GET as a pull (a HEAD is free): a cold copy reads each manifest and
each blob upstream once, never more than skopeo does, and the digests stay upstream's.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.copy.engine import BlobStager
from bot.copy.model import SyncItem
from bot.copy.syncer import Syncer
from bot.image.platform import Platform
from bot.image.reference import Reference, parse
from bot.policy.naming import Namer
from bot.registry.backoff import Backoff
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from sandbox.fault_proxy import FaultProxy, serve_proxy
from sandbox.images import BuiltImage
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, Sandbox

FIVE_PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x")


@dataclass
class Counted:
    testbed: Sandbox
    upstream: FaultProxy
    conf: Path

    def syncer(self) -> Syncer:
        """As `mirror-bot sync` builds it: blobs staged by the client, skopeo for the rest."""
        credentials = Credentials()
        credentials.add(self.testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        client = RegistryClient(RegistriesConf.load(self.conf), credentials, 10,
                                retry=Backoff(attempts=2, base_delay=0.01),
                                mirrors=[self.testbed.mirror.host])
        return Syncer(client, Skopeo(self.conf, credentials, timeout=120),
                      Backoff(attempts=2, base_delay=0.01), staging=BlobStager(client, None))

    def item(self, name: str, platforms: tuple[str, ...] = (), *,
             also: tuple[str, ...] = ()) -> SyncItem:
        source = parse(f"docker.io/library/{name}:1.0")
        namer = Namer(self.testbed.mirror.host)
        return SyncItem(source, namer.target(source), tuple(map(Platform.parse, platforms)),
                        tuple(parse(a) for a in also))

    def gets(self) -> tuple[int, Counter[str]]:
        """(manifest GETs, GETs per blob digest) upstream since the last call."""
        seen, self.upstream.seen[:] = list(self.upstream.seen), []
        manifests = sum(1 for method, path, _ in seen if method == "GET" and "/manifests/" in path)
        blobs = Counter(path.rsplit("/", 1)[1] for method, path, _ in seen
                        if method == "GET" and "/blobs/sha256:" in path)
        return manifests, blobs

    def mirrored_digest(self, target: Reference) -> str | None:
        return self.testbed.client().head_digest(target)


@pytest.fixture
def counted(testbed: Sandbox, tmp_path: Path) -> Iterator[Counted]:
    with serve_proxy(FaultProxy(testbed.upstream.host)) as up:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{up.host}/docker.io"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{up.host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
        yield Counted(testbed, up, conf)


def skopeo_gets(counted: Counted, image: BuiltImage, name: str) -> tuple[int, Counter[str]]:
    """What plain skopeo spends on the same cold copy (to a repository of its own)."""
    counted.gets()
    subprocess.run(["skopeo", "copy", "--quiet", "--all", "--preserve-digests",
                    "--src-tls-verify=false", "--dest-tls-verify=false",
                    "--dest-creds", f"{MIRROR_USER}:{MIRROR_PASSWORD}",
                    f"docker://{counted.upstream.host}/docker.io/library/{name}:1.0",
                    f"docker://{counted.testbed.mirror.host}/plain-skopeo/{name}:1.0"],
                   check=True, capture_output=True, timeout=120)
    return counted.gets()


def test_a_cold_copy_reads_each_manifest_and_blob_once(counted: Counted, name: str) -> None:
    image = counted.testbed.seed(name, platforms=FIVE_PLATFORMS)
    skopeo_manifests, skopeo_blobs = skopeo_gets(counted, image, name)
    result = counted.syncer().sync(counted.item(name))
    manifests, blobs = counted.gets()
    assert result.status == "copied", result.error
    assert counted.mirrored_digest(result.target) == image.index_digest
    # The index, then each platform's manifest: 1 + 5.
    assert manifests == 1 + len(FIVE_PLATFORMS) <= skopeo_manifests
    # Each blob once: what skopeo reads depends on what its own cache of blob locations lets
    # it mount on the mirror, so its count is not the bound; the image's blobs are.
    assert max(blobs.values()) == 1, blobs
    assert set(blobs) == set(image.blobs) and len(skopeo_blobs) <= len(image.blobs)


def test_a_platform_subset_reads_only_its_platforms_once(counted: Counted, name: str) -> None:
    image = counted.testbed.seed(name, platforms=FIVE_PLATFORMS)
    counted.gets()
    result = counted.syncer().sync(counted.item(name, ("linux/arm64", "linux/s390x")))
    manifests, blobs = counted.gets()
    assert result.status == "copied", result.error
    assert manifests == 1 + 2
    assert max(blobs.values()) == 1, blobs
    assert len(blobs) == 2 * 3  # two platforms: a config and two layers each
    assert counted.mirrored_digest(result.target.with_digest(image.manifests["linux/s390x"])) \
        == image.manifests["linux/s390x"]


def test_further_addresses_cost_no_upstream_read(counted: Counted, name: str) -> None:
    counted.testbed.seed(name, platforms=FIVE_PLATFORMS)
    counted.gets()
    short = f"{counted.testbed.mirror.host}/docker.io/{name}:1.0"
    result = counted.syncer().sync(counted.item(name, also=(short,)))
    manifests, blobs = counted.gets()
    assert result.status == "copied", result.error
    assert [a.status for a in result.also] == ["copied"]
    assert manifests == 1 + len(FIVE_PLATFORMS)
    assert max(blobs.values()) == 1, blobs


def test_an_unchanged_tag_costs_no_pull(counted: Counted, name: str) -> None:
    counted.testbed.seed(name, platforms=FIVE_PLATFORMS)
    counted.syncer().sync(counted.item(name))
    counted.gets()
    result = counted.syncer().sync(counted.item(name))
    manifests, blobs = counted.gets()
    assert result.status == "unchanged"
    assert (manifests, sum(blobs.values())) == (0, 0)
