"""Blob API against real registries and against blob servers that misbehave: ranged copies,
fallbacks to one stream, lies detected, redirects without our credentials, mounts, push checks.
Every copy that succeeds is checked by hashing what the mirror serves."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ConfigError, ErrorKind, TransferError
from bot.image.reference import Reference, parse
from bot.registry import blobs
from bot.registry.backoff import Backoff
from bot.registry.blobs import DEFAULT_BLOB_COPY, BlobCopySettings, BlobProgress, ProgressPrinter
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from sandbox.blob_servers import BlobServer, serve_blobs
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, Sandbox, registry_client

KiB = 1024
CHUNK = 64 * KiB
SOURCE = parse("upstream.example.io/team/big")


def blob(size: int) -> bytes:
    return os.urandom(size)


def client(testbed: Sandbox, tmp_path: Path, server: BlobServer | None = None,
           *, with_mirror_creds: bool = True) -> RegistryClient:
    conf = tmp_path / "registries.conf"
    text = testbed.registries_conf.read_text()
    if server is not None:
        text += (f'\n[[registry]]\nprefix = "upstream.example.io"\nlocation = "{server.host}"\n'
                 'insecure = true\n')
    conf.write_text(text)
    credentials = Credentials()
    if with_mirror_creds:
        credentials.add(testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
    return registry_client(conf, credentials, mirrors=[testbed.mirror.host])


def copy_blob(registry: RegistryClient, source: Reference, target: Reference, digest: str,
              size: int, *, chunk_size: int = DEFAULT_BLOB_COPY.chunk_size,
              parallel: int = DEFAULT_BLOB_COPY.parallel) -> bool:
    """The copy production runs (bot.registry.blobs.copy_blob, as stage_blob calls it), between
    the endpoints the client's registries.conf gives, over its transport."""
    return blobs.copy_blob(registry.transport, registry.conf.resolve(source),
                           registry.conf.resolve(target), digest, size, chunk_size=chunk_size,
                           parallel=parallel)


def mirrored(testbed: Sandbox, repository: str, digest: str) -> str | None:
    """sha256 of what the mirror serves for the blob, fetched directly; None if absent."""
    login = base64.b64encode(f"{MIRROR_USER}:{MIRROR_PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"http://{testbed.mirror.host}/v2/{repository}/blobs/{digest}",
                                     headers={"Authorization": f"Basic {login}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return "sha256:" + hashlib.sha256(answer.read()).hexdigest()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def uploads(testbed: Sandbox, repository: str) -> list[tuple[str, int]]:
    """(method, status) of the upload requests the mirror answered for `repository`, but for
    challenges; its access log is read, so this counts what really reached it."""
    prefix = f"/v2/{repository}/blobs/uploads/"
    return [(method, status) for method, path, status in testbed.mirror.requests()
            if path.startswith(prefix) and status != 401]


def committed_once(testbed: Sandbox, repository: str) -> bool:
    """One upload: a POST, PATCHes, one PUT that the mirror accepted."""
    methods = [m for m, _ in uploads(testbed, repository)]
    return (methods[0], methods[-1]) == ("POST", "PUT") and methods.count("POST") == 1 and (
        uploads(testbed, repository)[-1][1] == 201 and set(methods[1:-1]) <= {"PATCH"})


def cancelled(testbed: Sandbox, repository: str) -> bool:
    """The upload was cancelled (DELETE answered 204) and never committed."""
    answered = uploads(testbed, repository)
    return answered[-1] == ("DELETE", 204) and all(m != "PUT" for m, _ in answered)


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[BlobServer]:
    options = getattr(request, "param", {})
    with serve_blobs(BlobServer(**options)) as server:
        yield server


def target(testbed: Sandbox, name: str) -> Reference:
    return parse(f"{testbed.mirror.host}/blobs/{name}")


def test_ranged_copy_between_real_registries_keeps_the_digest(testbed: Sandbox, name: str,
                                                              tmp_path: Path) -> None:
    image = testbed.seed(name, layer_sizes=(300 * KiB, 2048))
    sizes = {d: (image.layout / "blobs" / "sha256" / d[7:]).stat().st_size for d in image.blobs}
    digest = max(sizes, key=sizes.__getitem__)
    source = parse(f"docker.io/library/{name}")
    registry = client(testbed, tmp_path)
    testbed.upstream.mark()
    copy_blob(registry, source, target(testbed, name), digest, sizes[digest], chunk_size=CHUNK,
              parallel=3)
    gets = [p for m, p, _ in testbed.upstream.requests() if m == "GET" and digest in p]
    assert len(gets) == -(-sizes[digest] // CHUNK)  # one GET per range
    assert mirrored(testbed, f"blobs/{name}", digest) == digest
    assert committed_once(testbed, f"blobs/{name}")


@pytest.mark.parametrize("served", [{"mode": "honest", "rate": 2 * 1024 * KiB}], indirect=True)
def test_ranges_are_fetched_at_most_parallel_at_a_time(testbed: Sandbox, name: str,
                                                       tmp_path: Path, served: BlobServer) -> None:
    data = blob(20 * CHUNK + 5)
    digest = served.add(data)
    copy_blob(client(testbed, tmp_path, served), SOURCE, target(testbed, name), digest, len(data),
              chunk_size=CHUNK, parallel=4)
    assert served.ranged_gets() == 21 and served.plain_gets() == 0
    assert 1 < served.most_in_flight <= 4
    assert mirrored(testbed, f"blobs/{name}", digest) == digest
    assert committed_once(testbed, f"blobs/{name}")


@pytest.mark.parametrize(("served", "gets"), [
    ({"mode": "ignore_range"}, (1, 0)),         # the 200 answer to the first range is the stream
    ({"mode": "refuse_range"}, (1, 1)),         # 416, then one plain GET
    ({"mode": "wrong_content_range"}, (1, 1)),  # a Content-Range that was not asked for
], indirect=["served"])
def test_unusable_ranges_fall_back_to_one_stream(testbed: Sandbox, name: str, tmp_path: Path,
                                                 served: BlobServer, gets: tuple[int, int]) -> None:
    data = blob(5 * CHUNK + 7)
    digest = served.add(data)
    copy_blob(client(testbed, tmp_path, served), SOURCE, target(testbed, name), digest, len(data),
              chunk_size=CHUNK, parallel=4)
    assert (served.ranged_gets(), served.plain_gets()) == gets
    assert mirrored(testbed, f"blobs/{name}", digest) == digest
    assert committed_once(testbed, f"blobs/{name}")


@pytest.mark.parametrize("served", [{"mode": "wrong_bytes"}], indirect=True)
def test_bytes_that_do_not_hash_to_the_digest_commit_nothing(testbed: Sandbox, name: str,
                                                             tmp_path: Path,
                                                             served: BlobServer) -> None:
    data = blob(3 * CHUNK)
    digest = served.add(data)
    with pytest.raises(TransferError) as caught:
        copy_blob(client(testbed, tmp_path, served), SOURCE, target(testbed, name), digest,
                  len(data), chunk_size=CHUNK, parallel=2)
    assert caught.value.kind == ErrorKind.DIGEST_MISMATCH
    assert mirrored(testbed, f"blobs/{name}", digest) is None
    assert cancelled(testbed, f"blobs/{name}")


@pytest.mark.parametrize(("served", "size", "gets"), [
    ({"short_body": True}, CHUNK + 1, (6, 0)),    # three tries of each of the two ranges
    ({"short_body": True}, CHUNK, (3, 0)),        # a blob of one chunk: three tries of it whole
    ({"short_body": True, "mode": "ignore_range"}, CHUNK + 1, (1, 2)),  # a stream, read on twice
    ({"short_body": True, "mode": "ignore_range"}, CHUNK, (1, 2)),
], indirect=["served"])
def test_a_short_body_is_detected(testbed: Sandbox, name: str, tmp_path: Path,
                                  served: BlobServer, *, size: int, gets: tuple[int, int]) -> None:
    data = blob(size)
    digest = served.add(data)
    with pytest.raises(TransferError) as caught:
        copy_blob(client(testbed, tmp_path, served), SOURCE, target(testbed, name), digest,
                  len(data), chunk_size=CHUNK, parallel=2)
    assert caught.value.kind == ErrorKind.NETWORK and caught.value.transient
    assert (served.ranged_gets(), served.plain_gets()) == gets
    assert mirrored(testbed, f"blobs/{name}", digest) is None
    if size > CHUNK:  # the upload was open while the ranges came: cancelled
        assert cancelled(testbed, f"blobs/{name}")
    else:  # a blob read whole is checked before any upload starts
        assert uploads(testbed, f"blobs/{name}") == []


@pytest.mark.parametrize("size", [CHUNK, 1, 0])
def test_one_chunk_goes_whole_in_one_put(testbed: Sandbox, name: str, tmp_path: Path,
                                         size: int, served: BlobServer) -> None:
    data = blob(size)
    digest = served.add(data)
    copy_blob(client(testbed, tmp_path, served), SOURCE, target(testbed, name), digest, len(data),
              chunk_size=CHUNK, parallel=4)
    assert served.ranged_gets() + served.plain_gets() == 1
    assert mirrored(testbed, f"blobs/{name}", digest) == digest
    assert uploads(testbed, f"blobs/{name}") == [("POST", 202), ("PUT", 201)]


def test_a_small_blob_whose_bytes_do_not_hash_starts_no_upload(testbed: Sandbox, name: str,
                                                               tmp_path: Path,
                                                               served: BlobServer) -> None:
    data = blob(CHUNK // 2)
    digest = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    served.blobs[digest] = data  # upstream serves other bytes than the digest names
    with pytest.raises(TransferError) as caught:
        copy_blob(client(testbed, tmp_path, served), SOURCE, target(testbed, name), digest,
                  len(data), chunk_size=CHUNK, parallel=2)
    assert caught.value.kind == ErrorKind.DIGEST_MISMATCH
    assert mirrored(testbed, f"blobs/{name}", digest) is None
    assert uploads(testbed, f"blobs/{name}") == []


@pytest.mark.parametrize("refuse_ranges", [False, True])
def test_redirects_to_storage_never_carry_our_credentials(testbed: Sandbox, name: str,
                                                          tmp_path: Path,
                                                          refuse_ranges: bool) -> None:
    storage = BlobServer(hostname="localhost", refuse_ranges=refuse_ranges)
    with serve_blobs(storage), serve_blobs(BlobServer(storage=storage,
                                                      users={"u": "fake-upstream-pass"})) as front:
        data = blob(4 * CHUNK + 1)
        digest = front.add(data)
        storage.blobs = front.blobs
        registry = client(testbed, tmp_path, front)
        registry.credentials.add(front.host, "u", "fake-upstream-pass")
        copy_blob(registry, SOURCE, target(testbed, name), digest, len(data), chunk_size=CHUNK,
                  parallel=2)
    assert mirrored(testbed, f"blobs/{name}", digest) == digest
    assert all(s.authorization is None for s in storage.seen)
    assert any(s.authorization for s in front.seen)
    if refuse_ranges:  # refused at storage: one plain stream, asked of the registry again
        assert (storage.ranged_gets(), storage.plain_gets()) == (1, 1)
    else:  # the storage URL is reused: one registry GET for five ranges
        assert sum(1 for s in front.seen if s.method == "GET" and s.authorization) == 1
        assert storage.ranged_gets() == 5


def test_mount_from_another_repository_of_the_mirror(testbed: Sandbox, name: str,
                                                     tmp_path: Path) -> None:
    with serve_blobs(BlobServer()) as served:
        data = blob(CHUNK)
        digest = served.add(data)
        registry = client(testbed, tmp_path, served)
        copy_blob(registry, SOURCE, target(testbed, name), digest, len(data), chunk_size=CHUNK)
    other = parse(f"{testbed.mirror.host}/mounted/{name}")
    assert registry.mount_blob(other, digest, f"blobs/{name}") is True
    assert mirrored(testbed, f"mounted/{name}", digest) == digest
    absent = "sha256:" + hashlib.sha256(b"absent").hexdigest()
    assert registry.mount_blob(other, absent, f"blobs/{name}") is False
    assert uploads(testbed, f"mounted/{name}") == [("POST", 201), ("POST", 202), ("DELETE", 204)]


def test_check_push_tells_a_mirror_that_refuses_us(testbed: Sandbox, name: str,
                                                   tmp_path: Path) -> None:
    repository = parse(f"{testbed.mirror.host}/push-check/{name}")
    client(testbed, tmp_path).check_push(repository)
    assert uploads(testbed, f"push-check/{name}") == [("POST", 202), ("DELETE", 204)]
    with pytest.raises(TransferError) as caught:
        client(testbed, tmp_path, with_mirror_creds=False).check_push(repository)
    assert caught.value.kind == ErrorKind.MIRROR_UNAUTHORIZED and caught.value.transient


def test_progress_lines_are_throttled_and_end_with_done() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, interval=3600)
    for done in (1, 2, 3, 4):
        printer(BlobProgress("sha256:" + "a" * 64, 4 * 1024 * 1024, done * 1024 * 1024, done))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # the first, then the last; the ones between are throttled
    assert lines[0] == "blob sha256:aaaaaaaaaaaa: 1.0 MiB of 4.0 MiB, 1.0 MiB/s, 3s left"
    assert lines[1].endswith("4.0 MiB of 4.0 MiB, 1.0 MiB/s, done")


def test_a_negative_size_or_a_digest_that_is_not_one_is_refused_before_any_request() -> None:
    offline = RegistryClient(RegistriesConf(), Credentials(), 1, retry=Backoff(attempts=1))
    with pytest.raises(TransferError, match="negative size"):
        copy_blob(offline, SOURCE, parse("127.0.0.1:9/x"), "sha256:" + "a" * 64, -1)
    with pytest.raises(TransferError, match="not a sha256 digest"):
        offline.stage_blob(SOURCE, parse("127.0.0.1:9/x"), "sha256:../../etc", 1)
    with pytest.raises(ValueError, match="not a repository path"):
        offline.mount_blob(parse("127.0.0.1:9/x"), "sha256:" + "a" * 64, "../other")


def test_blob_copy_settings_are_checked() -> None:
    settings = BlobCopySettings()
    assert (settings.threshold, settings.chunk_size, settings.parallel) == (
        32 * 1024 * KiB, 8 * 1024 * KiB, 8)
    assert settings.ranged(32 * 1024 * KiB) and not settings.ranged(1024)
    with pytest.raises(ConfigError):
        BlobCopySettings(parallel=0)


@pytest.mark.parametrize("likely_absent", [False, True])
def test_stage_blob_asks_and_opens_the_upload_in_one_request(testbed: Sandbox, name: str,
                                                             tmp_path: Path, served: BlobServer,
                                                             *, likely_absent: bool) -> None:
    """Absent: one POST (the mount from the repository itself answers 202 and the copy uses
    that upload), one GET, one PUT. Present: the same POST answers 201 and no byte is sent;
    asked first, not even a GET."""
    data = blob(CHUNK // 2)
    digest = served.add(data)
    registry = client(testbed, tmp_path, served)
    here = target(testbed, name)
    assert registry.stage_blob(SOURCE, here, digest, len(data), chunk_size=CHUNK,
                               likely_absent=likely_absent) == "copied"
    assert mirrored(testbed, f"blobs/{name}", digest) == digest
    assert uploads(testbed, f"blobs/{name}") == [("POST", 202), ("PUT", 201)]
    assert served.ranged_gets() + served.plain_gets() == 1
    assert not [p for m, p, _ in testbed.mirror.requests() if m == "HEAD" and digest in p]
    testbed.mirror.mark()
    assert registry.stage_blob(SOURCE, here, digest, len(data), chunk_size=CHUNK,
                               likely_absent=likely_absent) == "present"
    assert uploads(testbed, f"blobs/{name}") == [("POST", 201)]
    assert served.ranged_gets() + served.plain_gets() == (2 if likely_absent else 1)


def test_stage_blob_mounts_from_a_repository_the_caller_names(testbed: Sandbox, name: str,
                                                              tmp_path: Path,
                                                              served: BlobServer) -> None:
    data = blob(CHUNK * 3)
    digest = served.add(data)
    registry = client(testbed, tmp_path, served)
    first, second = target(testbed, name), target(testbed, f"{name}-2")
    assert registry.stage_blob(SOURCE, first, digest, len(data), chunk_size=CHUNK,
                               parallel=2) == "copied"
    gets = served.ranged_gets()
    assert registry.stage_blob(SOURCE, second, digest, len(data), chunk_size=CHUNK,
                               mount_from=["blobs/elsewhere", f"blobs/{name}"]) == "mounted"
    assert served.ranged_gets() == gets  # nothing fetched for the mount
    assert mirrored(testbed, f"blobs/{name}-2", digest) == digest


@pytest.mark.parametrize("served", [{"mode": "wrong_bytes"}], indirect=True)
def test_stage_blob_cancels_its_upload_on_wrong_bytes(
        testbed: Sandbox, name: str, tmp_path: Path, served: BlobServer) -> None:
    data = blob(CHUNK // 2)
    digest = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    served.blobs[digest] = data
    with pytest.raises(TransferError) as caught:
        client(testbed, tmp_path, served).stage_blob(SOURCE, target(testbed, name), digest,
                                                     len(data), chunk_size=CHUNK,
                                                     likely_absent=True)
    assert caught.value.kind == ErrorKind.DIGEST_MISMATCH
    assert mirrored(testbed, f"blobs/{name}", digest) is None
    assert cancelled(testbed, f"blobs/{name}")
