"""The registry client on real registries: Bearer-token and Basic auth, credentials only to the
host they are for, tags/list pages, error kinds by side."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.errors import ErrorKind, TransferError
from bot.image.reference import parse
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials
from bot.registry.skopeo import Skopeo
from sandbox.blob_servers import BlobServer, serve_blobs
from sandbox.images import build_image, push
from sandbox.registries import Registry, start_registry
from sandbox.token_auth import TokenServer, serve_tokens
from tests.fixtures import (
    MIRROR_PASSWORD,
    MIRROR_USER,
    SOURCE_PASSWORD,
    SOURCE_USER,
    Sandbox,
    registry_client,
)


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def insecure_conf(tmp_path: Path, host: str) -> Path:
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    return conf


def puller(host: str) -> Credentials:
    """The token registry's pull login."""
    credentials = Credentials()
    credentials.add(host, "puller", "fake-pull-pass")
    return credentials


def token_registry(tmp_path: Path, tokens: TokenServer) -> tuple[Registry, str]:
    """A registry that challenges with Bearer at `tokens`, holding app:1.0; its index digest."""
    registry = start_registry(tmp_path / "reg", auth_config=tokens.registry_auth_config())
    image = build_image(tmp_path / "oci", "1.0")
    users, tokens.users = tokens.users, {}
    _, grant = tokens.token("repository:app:pull,push", None)
    tokens.users = users
    push(image, f"{registry.host}/app:1.0", token=grant["token"])
    return registry, image.index_digest


def test_head_and_get_share_one_pull_token_and_challenges_are_remembered(tmp_path: Path) -> None:
    with serve_tokens(TokenServer(tmp_path / "tokens", {"puller": "fake-pull-pass"})) as tokens:
        registry, digest = token_registry(tmp_path, tokens)
        try:
            conf = tmp_path / "registries.conf"
            conf.write_text(f'[[registry]]\nprefix = "tokens.example.io"\n'
                            f'location = "{registry.host}"\ninsecure = true\n')
            credentials = Credentials()
            credentials.add(registry.host, "puller", "fake-pull-pass")
            reader = registry_client(conf, credentials)
            registry.mark()
            tokens.requests.clear()
            ref = parse("tokens.example.io/app:1.0")
            assert reader.head_digest(ref) == digest
            assert reader.head_digest(ref) == digest
            assert reader.get_manifest(ref).digest == digest
            methods = [m for m, path, _ in registry.requests() if "/manifests/" in path]
            assert methods == ["HEAD", "HEAD", "HEAD", "GET"]  # one challenge, then answers
            assert len(tokens.requests) == 1
            registry.mark()
            assert reader.head_digest(parse("tokens.example.io/other:1.0")) is None
            # a host known to want tokens gets one up front: no 401 for another repository
            assert registry.requests() == [("HEAD", "/v2/other/manifests/1.0", 404)]
            assert "scope=repository%3Aother%3Apull" in tokens.requests[-1]
            with pytest.raises(TransferError) as caught:
                registry_client(conf, Credentials()).head_digest(ref)
            assert caught.value.kind == ErrorKind.UNAUTHORIZED
        finally:
            registry.stop()


def test_a_plain_http_token_realm_gets_credentials_only_when_allowed(tmp_path: Path) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    server = TokenServer(tmp_path / "tokens", {"puller": "fake-pull-pass"})
    with serve_tokens(server, address=address) as tokens:
        registry, digest = token_registry(tmp_path, tokens)
        try:
            conf = insecure_conf(tmp_path, registry.host)
            credentials = puller(registry.host)
            ref = parse(f"{registry.host}/app:1.0")
            tokens.authorizations.clear()
            with pytest.raises(TransferError) as caught:
                registry_client(conf, credentials).head_digest(ref)
            assert caught.value.kind == ErrorKind.UNAUTHORIZED
            assert "over plain http" in caught.value.message
            assert tokens.authorizations == [None]
            realm_host = tokens.realm.split("/")[2]
            conf.write_text(conf.read_text() + f'[[registry]]\nlocation = "{realm_host}"\n'
                            'insecure = true\n')
            assert registry_client(conf, credentials).head_digest(ref) == digest
            assert tokens.authorizations[-1] == Credentials.for_name(
                credentials, registry.host).basic
        finally:
            registry.stop()


def test_docker_hub_credentials_never_reach_the_host_docker_io_is_mapped_to(
        testbed: Sandbox, name: str, tmp_path: Path) -> None:
    image = testbed.seed(f"library/{name}", registry=testbed.private, prefix="hub")
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nprefix = "docker.io"\nlocation = "{testbed.private.host}/hub"\n'
                    'insecure = true\n')
    ref = parse(f"docker.io/library/{name}:1.0")
    login = base64.b64encode(f"{SOURCE_USER}:{SOURCE_PASSWORD}".encode()).decode()
    for key, allowed in (("docker.io", False), (testbed.private.host, True),
                         (f"{testbed.private.host}/hub/library", True)):
        auth = tmp_path / "auth.json"
        auth.write_text(json.dumps({"auths": {key: {"auth": login}}}))
        credentials = Credentials.from_auth_file(auth)
        skopeo = Skopeo(conf, credentials, timeout=60)
        for look_up in (registry_client(conf, credentials).head_digest, skopeo.inspect_digest):
            if allowed:
                assert look_up(ref) == image.index_digest, (key, look_up)
            else:
                with pytest.raises(TransferError) as caught:
                    look_up(ref)
                assert caught.value.kind == ErrorKind.UNAUTHORIZED, (key, look_up)
        skopeo.close()


def test_a_mirror_that_refuses_us_is_the_maintainers_problem(testbed: Sandbox, name: str) -> None:
    testbed.seed(name)
    credentials = Credentials()
    credentials.add(testbed.mirror.host, MIRROR_USER, "wrong-" + MIRROR_PASSWORD)
    target = parse(f"{testbed.mirror.host}/docker.io/library/{name}:1.0")
    at_mirror = registry_client(testbed.registries_conf, credentials, mirrors=[testbed.mirror.host])
    with pytest.raises(TransferError) as caught:
        at_mirror.head_digest(target)
    assert caught.value.kind == ErrorKind.MIRROR_UNAUTHORIZED and caught.value.transient
    assert "maintainers" in caught.value.message
    with pytest.raises(TransferError) as caught:  # the same host read as a source: final
        registry_client(testbed.registries_conf, credentials).head_digest(target)
    assert caught.value.kind == ErrorKind.UNAUTHORIZED and not caught.value.transient


def test_tags_of_a_real_registry_honour_registries_conf(testbed: Sandbox, name: str) -> None:
    tags = ["1.0", "2.0-rc1", "latest"]
    for tag in tags:
        testbed.seed(name, tag, seed=name)
    reader = registry_client(testbed.registries_conf, Credentials())
    testbed.upstream.mark()
    assert sorted(reader.list_tags(parse(f"docker.io/library/{name}"), page_size=2)) == tags
    pages = [path for method, path, _ in testbed.upstream.requests() if "/tags/list" in path]
    # distribution 2.8 ignores `n` and answers every tag on one page
    assert pages == [f"/v2/docker.io/library/{name}/tags/list?n=2"]
    with pytest.raises(TransferError) as caught:
        reader.list_tags(parse(f"docker.io/library/{name}-absent"))
    assert caught.value.kind == ErrorKind.NOT_FOUND


def tags_client(tmp_path: Path, server: BlobServer) -> RegistryClient:
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nprefix = "docker.io"\nlocation = "{server.host}/hub"\n'
                    'insecure = true\n')
    return registry_client(conf, Credentials())


def test_tags_are_listed_page_by_page(tmp_path: Path) -> None:
    tags = [f"1.{minor}" for minor in range(7)] + ["latest", "x y", "-bad"]
    with serve_blobs(BlobServer(tags=tags)) as server:
        listed = tags_client(tmp_path, server).list_tags(parse("nginx"), page_size=3)
    assert listed == sorted(tags[:8])  # "x y" and "-bad" are not tags: dropped
    pages = [s.path for s in server.seen if "/tags/list" in s.path]
    assert pages == ["/v2/hub/library/nginx/tags/list?n=3",  # -bad 1.0 1.1
                     "/v2/hub/library/nginx/tags/list?n=3&last=1.1",  # 1.2 1.3 1.4
                     "/v2/hub/library/nginx/tags/list?n=3&last=1.4",  # 1.5 1.6 latest
                     "/v2/hub/library/nginx/tags/list?n=3&last=latest"]  # "x y"


def test_a_next_page_link_that_loops_or_leads_away_is_not_followed(tmp_path: Path) -> None:
    with serve_blobs(BlobServer(tags=["a", "b", "c"],
                                tags_link="/v2/hub/library/nginx/tags/list?n=1")) as server:
        assert tags_client(tmp_path, server).list_tags(parse("nginx"), page_size=1) == ["a"]
    assert len([s for s in server.seen if "/tags/list" in s.path]) == 1
    away = BlobServer(tags=["a", "b"], tags_link="http://elsewhere.example/x")
    with serve_blobs(away) as server, pytest.raises(TransferError) as caught:
        tags_client(tmp_path, server).list_tags(parse("nginx"), page_size=1)
    assert "points elsewhere" in caught.value.message


@pytest.mark.parametrize("body", [b'{"tags": "latest"}', b'{"tags": {"latest": 1}}', b"[1]",
                                  b"not json"])
def test_an_answer_that_is_no_tag_list_is_an_error(tmp_path: Path, body: bytes) -> None:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        conf = tmp_path / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "127.0.0.1:{server.server_port}"\n'
                        'insecure = true\n')
        with pytest.raises(TransferError) as caught:
            registry_client(conf, Credentials()).list_tags(parse(f"127.0.0.1:{server.server_port}/app"))
        server.shutdown()
    assert caught.value.kind == ErrorKind.UNKNOWN and "not a tag list" in caught.value.message


def test_an_unreachable_registry_is_a_network_error(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nlocation = "127.0.0.1:9"\ninsecure = true\n')
    with pytest.raises(TransferError) as caught:
        registry_client(conf, Credentials()).head_digest(parse("127.0.0.1:9/app:1"))
    assert caught.value.kind == ErrorKind.NETWORK and caught.value.transient


def test_put_manifest_needs_push_credentials_at_the_mirror(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name)
    source = parse(f"docker.io/library/{name}@{image.manifests['linux/amd64']}")
    reader = registry_client(testbed.registries_conf, Credentials())
    manifest = reader.get_manifest(source)
    credentials = Credentials()
    credentials.add(testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
    writer = registry_client(testbed.registries_conf, credentials, mirrors=[testbed.mirror.host])
    target = parse(f"{testbed.mirror.host}/put/{name}:config-only")
    with pytest.raises(TransferError) as caught:  # its blobs are not at the mirror yet
        writer.put_manifest(target, manifest)
    assert caught.value.kind == ErrorKind.UNKNOWN and "HTTP 400" in caught.value.message


def test_requests_racing_to_a_new_host_draw_one_challenge(tmp_path: Path) -> None:
    """Eight first requests at once to a token registry: one learns the challenge, the others
    wait for it and go with a token (per scope) up front, so one 401 in all, not eight."""
    with serve_tokens(TokenServer(tmp_path / "tokens", {"puller": "fake-pull-pass"})) as tokens:
        registry, _ = token_registry(tmp_path, tokens)
        try:
            reader = registry_client(insecure_conf(tmp_path, registry.host), puller(registry.host))
            registry.mark()
            refs = [parse(f"{registry.host}/app{n}:1.0") for n in range(8)]
            with ThreadPoolExecutor(8) as pool:
                assert list(pool.map(reader.head_digest, refs)) == [None] * 8
            answers = [status for m, path, status in registry.requests() if "/manifests/" in path]
            assert sorted(answers) == [401] + [404] * 8
        finally:
            registry.stop()
