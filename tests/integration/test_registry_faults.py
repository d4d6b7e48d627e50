"""Registry faults through a fault proxy between skopeo/the client and real registries.

Every case ends copied with a verified digest, or reported as failed with nothing recorded as
mirrored at the target.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.copy.engine import BlobStager
from bot.copy.model import SyncItem
from bot.copy.syncer import Syncer
from bot.image.reference import Reference, parse
from bot.policy.naming import Namer
from bot.registry import authfile
from bot.registry.backoff import Backoff
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from sandbox.fault_proxy import FaultProxy, Rule, serve_proxy
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, REPO_ROOT, Sandbox


@dataclass
class FaultyBed:
    testbed: Sandbox
    upstream: FaultProxy
    mirror: FaultProxy
    conf: Path

    def syncer(self, attempts: int = 3, timeout: float = 10,
               delays: list[float] | None = None, *, staged: bool = False) -> Syncer:
        """`staged`: mirror-bot stages blobs before skopeo runs, as `mirror-bot sync` does."""
        credentials = Credentials()
        credentials.add(self.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        conf = RegistriesConf.load(self.conf)
        sleep = delays.append if delays is not None else time.sleep
        client = RegistryClient(conf, credentials, timeout,
                                retry=Backoff(attempts=attempts, base_delay=0.01), sleep=sleep,
                                mirrors=[self.mirror.host])
        return Syncer(client, Skopeo(self.conf, credentials, timeout=120),
                      Backoff(attempts=attempts, base_delay=0.01), sleep=sleep,
                      staging=BlobStager(client, None) if staged else None)

    def item(self, name: str) -> SyncItem:
        source = parse(f"docker.io/library/{name}:1.0")
        return SyncItem(source, Namer(self.mirror.host).target(source))

    def mirrored_digest(self, target: Reference) -> str | None:
        """Asked of the mirror directly, not through the proxy."""
        direct = Reference(self.testbed.mirror.host, target.repository, target.tag)
        return self.testbed.client().head_digest(direct)


@pytest.fixture
def faulty(testbed: Sandbox, tmp_path: Path) -> Iterator[FaultyBed]:
    with serve_proxy(FaultProxy(testbed.upstream.host)) as up, \
            serve_proxy(FaultProxy(testbed.mirror.host)) as mirror:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{up.host}/docker.io"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{up.host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{mirror.host}"\ninsecure = true\n')
        yield FaultyBed(testbed, up, mirror, conf)


def test_5xx_answers_are_retried_then_copied(faulty: FaultyBed, name: str) -> None:
    image = faulty.testbed.seed(name)
    faulty.upstream.add(Rule("status", "HEAD", "/manifests/", times=1, status=503))
    faulty.upstream.add(Rule("status", "GET", "/blobs/", times=1, status=502))
    result = faulty.syncer().sync(faulty.item(name))
    assert result.status == "copied", result.error
    assert result.digest == image.index_digest
    assert faulty.mirrored_digest(result.target) == image.index_digest
    assert [h[2] for h in faulty.upstream.hits] == ["status", "status"]


def test_a_mirrors_429_with_retry_after_is_honoured_by_the_transport(faulty: FaultyBed,
                                                                     name: str) -> None:
    faulty.testbed.seed(name)
    faulty.mirror.add(Rule("status", "HEAD", "/manifests/", times=1, status=429,
                           headers={"Retry-After": "4"}))
    faulty.mirror.add(Rule("status", "HEAD", "/manifests/", times=1, status=503))
    delays: list[float] = []
    result = faulty.syncer(attempts=3, delays=delays).sync(faulty.item(name))
    assert result.status == "copied"
    assert delays[0] == 4.0  # Retry-After, then a backoff with jitter for the 503
    assert len(delays) == 2 and 0.01 <= delays[1] <= 0.02
    heads = [h for h in faulty.mirror.hits if h[0] == "HEAD"]
    assert [h[2] for h in heads] == ["status", "status"]


def test_a_sources_429_is_never_asked_again_the_image_is_deferred(faulty: FaultyBed,
                                                                   name: str) -> None:
    """A source's 429 is its pull quota: asking again spends nothing but goodwill."""
    faulty.testbed.seed(name)
    faulty.upstream.add(Rule("status", "HEAD", "/manifests/", times=1, status=429,
                             headers={"Retry-After": "4"}))
    delays: list[float] = []
    result = faulty.syncer(attempts=3, delays=delays).sync(faulty.item(name))
    assert result.status == "deferred" and result.error is not None
    assert result.error.kind == "rate_limited" and result.resume_after
    assert delays == [] and result.pulls == 0
    assert [(h[0], h[2]) for h in faulty.upstream.hits] == [("HEAD", "status")]
    assert faulty.mirrored_digest(result.target) is None


def test_persistent_5xx_is_a_failure_and_nothing_is_recorded(faulty: FaultyBed, name: str) -> None:
    faulty.testbed.seed(name)
    faulty.upstream.add(Rule("status", "GET", "/blobs/", times=-1, status=502))
    result = faulty.syncer(attempts=2).sync(faulty.item(name))
    assert result.status == "failed" and result.error.kind == "server_error"
    assert result.transient
    assert faulty.mirrored_digest(result.target) is None


@pytest.mark.parametrize(("side", "request_", "kind"), [
    ("upstream", ("HEAD", "/manifests/"), "unauthorized"),  # the registry client's look-up
    ("upstream", ("GET", "/blobs/"), "unauthorized"),  # skopeo reading the source
    ("mirror", ("HEAD", "/manifests/"), "mirror_unauthorized"),  # the client asking the mirror
    ("mirror", ("POST", "/blobs/uploads/"), "mirror_unauthorized"),  # skopeo writing to it
])
def test_a_403_is_the_requesters_from_a_source_and_the_maintainers_from_the_mirror(
        faulty: FaultyBed, name: str, side: str, request_: tuple[str, str], kind: str) -> None:
    method, path = request_
    faulty.testbed.seed(name)
    proxy = faulty.upstream if side == "upstream" else faulty.mirror
    # A 403 with the DENIED code registries send with one (the proxy's "status" rule sends
    # UNAVAILABLE, which skopeo would print instead of the status).
    proxy.add(Rule("echo_credentials", method, path, times=-1, status=403))
    result = faulty.syncer(attempts=2).sync(faulty.item(name))
    assert result.status == "failed" and result.error is not None, result
    assert (result.error.kind, result.transient) == (kind, side == "mirror"), result.error.message
    assert any(action == "echo_credentials" for *_, action in proxy.hits)
    assert faulty.mirrored_digest(result.target) is None


def test_connection_reset_mid_blob_is_retried_and_verified(faulty: FaultyBed, name: str) -> None:
    image = faulty.testbed.seed(name, layer_sizes=(200_000, 100_000))
    faulty.upstream.add(Rule("reset", "GET", "/blobs/", times=1, after_bytes=4096))
    result = faulty.syncer().sync(faulty.item(name))
    assert ("GET" in {h[0] for h in faulty.upstream.hits})
    assert result.status == "copied", result.error
    assert faulty.mirrored_digest(result.target) == image.index_digest


def test_answers_slower_than_the_timeout_are_a_timeout(faulty: FaultyBed, name: str) -> None:
    faulty.testbed.seed(name)
    faulty.upstream.add(Rule("delay", "HEAD", "/manifests/", times=-1, delay=2.5))
    result = faulty.syncer(attempts=2, timeout=1).sync(faulty.item(name))
    assert result.status == "failed" and result.error.kind == "timeout"


def test_mirror_failing_mid_copy_is_reported_then_a_rerun_completes(faulty: FaultyBed,
                                                                    name: str) -> None:
    image = faulty.testbed.seed(name)
    faulty.mirror.add(Rule("status", "PUT", "/blobs/uploads/", times=-1, status=503))
    first = faulty.syncer(attempts=2).sync(faulty.item(name))
    assert first.status == "failed"
    assert faulty.mirrored_digest(first.target) is None
    faulty.mirror.clear()
    second = faulty.syncer().sync(faulty.item(name))
    assert second.status == "copied" and faulty.mirrored_digest(second.target) == image.index_digest


def test_a_copy_killed_midway_completes_when_run_again(faulty: FaultyBed, name: str,
                                                       tmp_path: Path) -> None:
    image = faulty.testbed.seed(name, layer_sizes=(100_000, 50_000))
    hold = faulty.mirror.add(Rule("delay", "PUT", "/blobs/uploads/", times=1, delay=60))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = faulty.testbed.env(CONTAINERS_REGISTRIES_CONF=str(faulty.conf),
                             MIRROR_REGISTRY=faulty.mirror.host, TMPDIR=str(temp))
    process = subprocess.Popen([sys.executable, "-m", "bot", "sync", "--json",
                                f"docker.io/library/{name}:1.0"], env=env, cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while hold.times != 0 and time.monotonic() < deadline:  # wait until a blob upload is held
        time.sleep(0.05)
    assert hold.times == 0, "the copy never reached the mirror"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert len(authfile_dirs(temp)) == 1  # SIGKILL cannot be caught: the next run removes it
    target = parse(f"{faulty.mirror.host}/docker.io/library/{name}:1.0")
    assert faulty.mirrored_digest(target) is None  # nothing half-written is served as the tag
    faulty.mirror.clear()
    rerun = subprocess.run([sys.executable, "-m", "bot", "sync", "--json",
                            f"docker.io/library/{name}:1.0"], env=env, cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert faulty.mirrored_digest(target) == image.index_digest
    assert authfile_dirs(temp) == []


def authfile_dirs(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{authfile.PREFIX}*"))


def test_sigterm_during_a_copy_leaves_no_authfile_and_no_skopeo(faulty: FaultyBed, name: str,
                                                                 tmp_path: Path) -> None:
    faulty.testbed.seed(name, layer_sizes=(100_000, 50_000))
    # skopeo copies a part whose blobs could not be staged: with a chunk of one byte the bot
    # reads every blob in ranges, and those reads fail; skopeo's whole reads are held up.
    faulty.upstream.add(Rule("status", "GET", "/blobs/", times=-1, status=500, with_header="Range"))
    faulty.upstream.add(Rule("delay", "GET", "/blobs/", times=-1, delay=60))  # a slow upstream
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = faulty.testbed.env(CONTAINERS_REGISTRIES_CONF=str(faulty.conf),
                             MIRROR_REGISTRY=faulty.mirror.host, TMPDIR=str(temp),
                             MIRROR_BLOB_CHUNK="1")
    process = subprocess.Popen([sys.executable, "-m", "bot", "sync", f"docker.io/library/{name}:1.0"],
                               env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while not (any(d.glob("*.json") for d in authfile_dirs(temp)) and children):
            assert time.monotonic() < deadline and process.poll() is None, "skopeo never ran"
            time.sleep(0.05)
            children = child_pids(process.pid)
        assert [d.stat().st_mode & 0o777 for d in authfile_dirs(temp)] == [0o700]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == -signal.SIGTERM
        assert authfile_dirs(temp) == []
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in children):  # reaped by init
            assert time.monotonic() < deadline, "skopeo outlived the run"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent`, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def test_a_mirror_that_refuses_the_mount_question_is_asked_the_plain_way(faulty: FaultyBed,
                                                                        name: str) -> None:
    """Some registries answer a mount from a repository that does not exist yet with an error,
    not with the spec's fallback upload: the blob is then asked about with a HEAD and uploaded
    after an ordinary POST, and the copy ends with upstream's digest."""
    image = faulty.testbed.seed(name, layer_sizes=(20_000, 3_000))
    faulty.mirror.add(Rule("status", "POST", "mount=", times=-1, status=404))
    result = faulty.syncer(staged=True).sync(faulty.item(name))
    assert result.status == "copied", result.error
    target = parse(f"{faulty.mirror.host}/docker.io/library/{name}:1.0")
    assert faulty.mirrored_digest(target) == image.index_digest
    asked = [(m, p) for m, p, action in faulty.mirror.hits if action == "status"]
    assert asked and all("mount=" in p for _, p in asked)
    plain = [p for m, p, _ in faulty.mirror.seen if m == "POST" and p.endswith("/blobs/uploads/")]
    assert len(plain) == len(image.blobs)  # each blob uploaded once, after a HEAD
    for child in image.manifests.values():
        manifest = json.loads((image.layout / "blobs" / "sha256" / child[7:]).read_bytes())
        for layer in manifest["layers"]:  # by mirror-bot (its GETs ask for a range), not skopeo
            gets = [r for m, p, r in faulty.upstream.seen if m == "GET" and layer["digest"] in p]
            assert gets and all(gets), layer["digest"]
