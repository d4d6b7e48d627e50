"""TLS to registries through the real transport and a real registry serving https: one set of
TLS settings per run (the system's CA certificates read once, not per connection), verification
kept for secure registries, none for `insecure` ones."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ErrorKind, TransferError
from bot.image.reference import parse
from bot.registry.backoff import Backoff
from bot.registry.client import RegistryClient
from sandbox.registries import Registry, start_registry
from tests.fixtures import registry_client

CONNECTIONS = 8


@pytest.fixture(scope="module")
def https_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    registry = start_registry(tmp_path_factory.mktemp("tls") / "reg", tls=True)
    yield registry
    registry.stop()


@pytest.fixture
def certificate_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts loads of the system's CA certificates (the real load still happens)."""
    loads: list[int] = []
    original = ssl.SSLContext.load_default_certs

    def counted(self: ssl.SSLContext, *args: object) -> None:
        loads.append(1)
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", counted)
    return loads


def client(tmp_path: Path, registry: Registry, *, insecure: bool) -> RegistryClient:
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{registry.host}"\n'
                    f"insecure = {str(insecure).lower()}\n")
    return registry_client(conf, retry=Backoff(attempts=1))


def ask_on_new_connections(reader: RegistryClient, registry: Registry) -> list[str | None]:
    """CONNECTIONS manifest HEADs, each on a connection of its own (the pools are emptied in
    between, as threads starting together would each open one)."""
    answers = []
    for n in range(CONNECTIONS):
        answers.append(reader.head_digest(parse(f"{registry.host}/app{n}:1.0")))
        reader.transport.close()
    return answers


def test_a_trusted_https_registry_reads_the_ca_certificates_once_for_every_connection(
        tmp_path: Path, https_registry: Registry, certificate_loads: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert https_registry.certificate is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(https_registry.certificate))
    reader = client(tmp_path, https_registry, insecure=False)
    https_registry.mark()
    assert ask_on_new_connections(reader, https_registry) == [None] * CONNECTIONS  # answered: not there
    assert len(https_registry.requests()) == CONNECTIONS
    assert len(certificate_loads) == 1


def test_an_untrusted_certificate_is_refused_with_what_is_wrong(
        tmp_path: Path, https_registry: Registry) -> None:
    reader = client(tmp_path, https_registry, insecure=False)
    with pytest.raises(TransferError) as raised:
        reader.head_digest(parse(f"{https_registry.host}/app:1.0"))
    assert raised.value.kind == ErrorKind.NETWORK
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)


def test_an_insecure_registry_on_https_is_read_without_certificates(
        tmp_path: Path, https_registry: Registry, certificate_loads: list[int]) -> None:
    reader = client(tmp_path, https_registry, insecure=True)
    https_registry.mark()
    assert ask_on_new_connections(reader, https_registry) == [None] * CONNECTIONS
    assert len(https_registry.requests()) == CONNECTIONS + 1  # and the https probe
    assert certificate_loads == []
    endpoint = reader.conf.resolve(parse(f"{https_registry.host}/app:1.0"))
    assert reader.transport.scheme(endpoint) == "https"
