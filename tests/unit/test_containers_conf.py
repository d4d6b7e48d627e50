"""registries.conf and auth.json read as containers/image reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.image.reference import parse
from bot.registry.containers_conf import Credentials, Endpoint, Login, RegistriesConf, is_loopback

CONF = '''
[[registry]]
prefix = "docker.io"
location = "a.example"

[[registry]]
prefix = "docker.io/library"
location = "b.example/lib"
insecure = true

[[registry]]
prefix = "quay.io"
location = "registry-1.docker.io/quay-copy"

[[registry]]
prefix = "*.corp.example"
insecure = true

[[registry]]
location = "localhost:5000"
insecure = true
'''


@pytest.fixture
def conf(tmp_path: Path) -> RegistriesConf:
    path = tmp_path / "registries.conf"
    path.write_text(CONF)
    return RegistriesConf.load(path)


@pytest.mark.parametrize(("name", "endpoint"), [
    ("nginx", Endpoint("b.example", "lib/nginx", True)),           # the longest prefix wins
    ("bitnami/redis", Endpoint("a.example", "bitnami/redis", False)),
    ("quay.io/org/app", Endpoint("docker.io", "quay-copy/org/app", False)),  # split_domain folds
    ("git.corp.example/team/app", Endpoint("git.corp.example", "team/app", True)),  # wildcard
    ("localhost:5000/app", Endpoint("localhost:5000", "app", True)),
    ("ghcr.io/acme/app", Endpoint("ghcr.io", "acme/app", False)),   # no entry: as written
])
def test_names_resolve_to_their_physical_endpoint(conf: RegistriesConf, name: str,
                                                  endpoint: Endpoint) -> None:
    assert conf.resolve(parse(name)) == endpoint


def test_docker_hub_is_reached_on_its_api_host() -> None:
    endpoint = RegistriesConf().resolve(parse("nginx"))
    assert (endpoint.registry, endpoint.host, endpoint.name) == (
        "docker.io", "registry-1.docker.io", "docker.io/library/nginx")


def test_insecure_hosts(conf: RegistriesConf, tmp_path: Path) -> None:
    assert conf.is_insecure("b.example") and conf.is_insecure("localhost:5000")
    assert conf.is_insecure("x.corp.example")
    assert not conf.is_insecure("a.example") and not conf.is_insecure("docker.io")
    v1 = tmp_path / "v1.conf"
    v1.write_text('[registries.insecure]\nregistries = ["old.example:5000"]\n')
    assert RegistriesConf.load(v1).is_insecure("old.example:5000")


@pytest.mark.parametrize("text", ["[[registry]\nlocation = 1", "registry = 3\n",
                                  "registry = [1]\n"])
def test_a_malformed_registries_conf_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "registries.conf"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"registries\.conf"):
        RegistriesConf.load(path)


def test_auth_json_keys_are_read_as_containers_reads_them(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}, '
                    '"ghcr.io": {"auth": "YTpi"}, "quay.io/team": {"auth": "dDpx"}, '
                    '"quay.io": {"auth": "cTpy"}, "broken.io": {"auth": "!!"}, '
                    '"helper.io": {}}}')
    credentials = Credentials.from_auth_file(auth)
    assert credentials.for_name("docker.io/library/nginx") == Login("u", "p")
    assert credentials.for_name("ghcr.io/acme/app") == Login("a", "b")
    assert credentials.for_name("quay.io/team/app") == Login("t", "q")  # most specific key
    assert credentials.for_name("quay.io/other/app") == Login("q", "r")
    assert credentials.for_name("registry-1.docker.io.evil/x") is None
    assert credentials.for_name("broken.io/x") is None and credentials.for_name("helper.io/x") is None
    assert "p" not in repr(credentials.for_name("docker.io/x")).replace("username='u'", "")


def test_credentials_round_trip_through_the_authfile_skopeo_reads(tmp_path: Path) -> None:
    credentials = Credentials()
    credentials.add("m.example.io", "pusher", "fake-secret:with:colons")
    credentials.add("https://index.docker.io/v1/", "hub", "fake-hub")
    path = tmp_path / "auth.json"
    path.write_text(credentials.auth_json())
    again = Credentials.from_auth_file(path)
    assert again.for_name("m.example.io/x") == Login("pusher", "fake-secret:with:colons")
    assert again.for_name("docker.io/library/x") == Login("hub", "fake-hub")
    assert sorted(login.password for login in again.logins.values()) == [
        "fake-hub", "fake-secret:with:colons"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    ("{not json", "cannot read auth file"),
    ('{"auths": []}', "cannot read auth file"),
    ("[]", "cannot read auth file"),
])
def test_a_missing_or_malformed_auth_file_is_a_config_error(tmp_path: Path, content: str | None,
                                                           message: str) -> None:
    path = tmp_path / "auth.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Credentials.from_auth_file(path)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:5000", True), ("127.8.0.1", True), ("[::1]:5000", True), ("localhost:80", True),
    ("192.0.2.2:5000", False), ("localhost.evil.example", False), ("m.example.io", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
