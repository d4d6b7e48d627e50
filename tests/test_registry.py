"""The registry client: Bearer-token auth like Docker Hub's, registries.conf, error kinds."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bot.errors import TransferError
from bot.reference import parse
from bot.registry import Credentials, RegistriesConf, RegistryClient
from sandbox.images import build_image, push
from sandbox.registries import start_registry
from sandbox.token_auth import TokenServer, serve_tokens
from tests.conftest import Sandbox


def test_bearer_token_flow_reads_digests_with_head_only(tmp_path: Path, testbed: Sandbox) -> None:
    with serve_tokens(TokenServer(tmp_path / "tokens", {"puller": "fake-pull-pass"})) as tokens:
        registry = start_registry(tmp_path / "reg", auth_config=tokens.registry_auth_config())
        try:
            image = build_image(tmp_path / "oci", "1.0")
            conf_path = tmp_path / "registries.conf"
            conf_path.write_text(f'[[registry]]\nprefix = "tokens.example.io"\n'
                                 f'location = "{registry.host}"\ninsecure = true\n')
            credentials = Credentials()
            credentials.add(registry.host, "puller", "fake-pull-pass")
            client = RegistryClient(RegistriesConf.load(conf_path), credentials, 10)
            basic = "Basic " + base64.b64encode(b"puller:fake-pull-pass").decode()
            _, grant = tokens.token("repository:app:pull,push", basic)
            push(image, f"{registry.host}/app:1.0", token=grant["token"])
            registry.mark()
            ref = parse("tokens.example.io/app:1.0")
            assert client.head_digest(ref) == image.index_digest
            assert client.head_digest(ref) == image.index_digest  # token reused
            methods = [m for m, path, _ in registry.requests() if "/manifests/" in path]
            assert methods == ["HEAD", "HEAD", "HEAD"]  # one 401 challenge, then two answers
            anonymous = RegistryClient(RegistriesConf.load(conf_path), Credentials(), 10)
            with pytest.raises(TransferError) as caught:
                anonymous.head_digest(ref)
            assert caught.value.kind == "unauthorized"
        finally:
            registry.stop()


def test_registries_conf_longest_prefix_wins(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nprefix = "docker.io"\nlocation = "a.example"\n'
                    '[[registry]]\nprefix = "docker.io/library"\nlocation = "b.example/lib"\n'
                    'insecure = true\n')
    loaded = RegistriesConf.load(conf)
    endpoint = loaded.resolve(parse("nginx"))
    assert (endpoint.host, endpoint.repository, endpoint.insecure) == ("b.example", "lib/nginx", True)
    assert loaded.resolve(parse("bitnami/redis")).host == "a.example"
    assert RegistriesConf().resolve(parse("nginx")).host == "registry-1.docker.io"


def test_unreachable_registry_is_a_network_error(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nlocation = "127.0.0.1:9"\ninsecure = true\n')
    client = RegistryClient(RegistriesConf.load(conf), Credentials(), 5)
    with pytest.raises(TransferError) as caught:
        client.head_digest(parse("127.0.0.1:9/app:1"))
    assert caught.value.kind == "network" and caught.value.transient


def test_auth_file_is_read_like_containers_auth_json(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}, '
                    '"ghcr.io": {"auth": "YTpi"}}}')
    credentials = Credentials.from_auth_file(auth)
    assert credentials.for_host("docker.io") == ("u", "p")
    assert credentials.for_host("ghcr.io") == ("a", "b")
