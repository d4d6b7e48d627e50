"""containers-registries.conf(5) and containers-auth.json(5): where a name is pulled from, and
whose credentials go there.

Rule: a name is rewritten by the longest matching `prefix` (its `location`, `insecure`), as
containers/image does; Docker Hub names are split by `reference.split_domain`, the one home of
that rule. Credentials belong to the *physical* name, the one actually contacted: they are
looked up by that name (`host/ns/repo`, then `host/ns`, then `host`), so `docker.io`'s
credentials never reach the host registries.conf maps `docker.io` to (containers/image's
`GetCredentialsForRef(physicalRef)`). A configured auth file that is missing or malformed is a
configuration error, never silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import tomllib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from bot.errors import ConfigError
from bot.image.reference import DEFAULT_REGISTRY, Reference, looks_like_domain, split_domain
from bot.redaction import Secrets

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
# The values of an auth.json entry that stand for a login: all of them are secrets, whether or
# not they decode to one we can use.
SECRET_FIELDS = ("auth", "identitytoken", "registrytoken", "password")


@dataclass(frozen=True)
class Endpoint:
    """Where a name is really served: `registry` is the physical domain (credentials key),
    `host` the host:port to connect to (Docker Hub's API lives on registry-1.docker.io)."""

    registry: str
    repository: str
    insecure: bool = False

    @property
    def host(self) -> str:
        return DOCKER_HUB_ENDPOINT if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


@dataclass(frozen=True)
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool

    @property
    def location_domain(self) -> str:
        return split_domain(self.location + "/_")[0]

    def matches(self, name: str) -> bool:
        if self.prefix.startswith("*."):  # wildcard entries match a domain, never rewrite
            domain = name.partition("/")[0]
            return domain.endswith(self.prefix[1:])
        return name == self.prefix or name.startswith(self.prefix + "/")


@dataclass(frozen=True)
class RegistriesConf:
    """The parts of registries.conf that decide where a name is pulled from."""

    entries: tuple[RegistryEntry, ...] = ()

    @classmethod
    def load(cls, path: Path | None) -> RegistriesConf:
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read registries.conf {path}: {error}") from error
        entries = list(_v2_entries(data, path))
        # Version 1 files list insecure hosts only; they rewrite nothing.
        v1 = data.get("registries", {})
        insecure = v1.get("insecure", {}).get("registries", []) if isinstance(v1, dict) else []
        entries += [RegistryEntry(host, host, True) for host in insecure if isinstance(host, str)]
        # The longest matching prefix wins, as in containers/image.
        entries.sort(key=lambda entry: len(entry.prefix), reverse=True)
        return cls(tuple(entries))

    def resolve(self, ref: Reference) -> Endpoint:
        """The physical endpoint of `ref`'s repository after prefix rewriting."""
        for entry in self.entries:
            if entry.matches(ref.name):
                mapped = ref.name if entry.prefix.startswith("*.") else (
                    entry.location + ref.name[len(entry.prefix):])
                registry, repository = split_domain(mapped)
                return Endpoint(registry, repository, entry.insecure)
        return Endpoint(ref.registry, ref.repository, False)

    def is_insecure(self, host: str) -> bool:
        """Whether registries.conf marks `host` insecure (plain http allowed)."""
        return any(entry.insecure and (entry.location_domain == host or (
            entry.prefix.startswith("*.") and entry.matches(host))) for entry in self.entries)


def _v2_entries(data: dict, path: Path) -> Iterator[RegistryEntry]:
    registries = data.get("registry", [])
    if not isinstance(registries, list):
        raise ConfigError(f"registries.conf {path}: [[registry]] must be a list of tables")
    for entry in registries:
        if not isinstance(entry, dict):
            raise ConfigError(f"registries.conf {path}: every [[registry]] must be a table")
        location = str(entry.get("location", "")).rstrip("/")
        prefix = str(entry.get("prefix") or location).rstrip("/")
        insecure = entry.get("insecure", False)
        if not isinstance(insecure, bool):  # `insecure = "false"` must not mean true
            raise ConfigError(f"registries.conf {path}: insecure for {prefix or location!r} must "
                              "be true or false, without quotes")
        if prefix:
            yield RegistryEntry(prefix, location or prefix, insecure)


def is_loopback(host: str) -> bool:
    """`host[:port]` names this machine (127.0.0.0/8, ::1, localhost)."""
    hostname = urllib.parse.urlsplit(f"//{host}").hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Login:
    """A user name and password; the Basic header is encoded once, the password never shown."""

    username: str
    password: str = field(repr=False)

    @cached_property
    def basic(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


def normalise_key(key: str) -> str:
    """An auth.json key as containers/image reads it: URL forms stripped to the host, Docker
    Hub's aliases (index.docker.io, registry-1.docker.io, …/v1/) folded to `docker.io`."""
    stripped = key.removeprefix("https://").removeprefix("http://")
    if stripped != key:
        stripped = stripped.partition("/")[0]
    domain, sep, rest = stripped.partition("/")
    if looks_like_domain(domain):
        domain = split_domain(f"{domain}/_")[0]
    return domain + sep + rest


@dataclass
class Credentials:
    """Logins per auth.json key (`host` or `host/namespace[/repo]`), looked up by physical name."""

    logins: dict[str, Login] = field(default_factory=dict)
    # Every credential value the auth file holds, as written (an `auth` we cannot decode too).
    file_values: list[str] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_auth_file(cls, path: Path | None) -> Credentials:
        """Read a containers auth.json; a named file that is missing or malformed is a
        ConfigError (the bot would otherwise run without the credentials it was given)."""
        credentials = cls()
        if path is None:
            return credentials
        try:
            auths = json.loads(path.read_text()).get("auths", {})
            if not isinstance(auths, dict):
                raise ValueError('"auths" is not an object')
        except FileNotFoundError as error:
            raise ConfigError(f"REGISTRY_AUTH_FILE {path} does not exist: create it or unset "
                              "REGISTRY_AUTH_FILE") from error
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as error:
            raise ConfigError(f"cannot read auth file {path} (REGISTRY_AUTH_FILE): "
                              f"{error.__class__.__name__}; it must be a containers auth.json "
                              '({"auths": {"host": {"auth": base64(user:password)}}})') from error
        for key, entry in auths.items():
            if isinstance(entry, dict):
                credentials.file_values += [value for name in SECRET_FIELDS
                                            if isinstance(value := entry.get(name), str)]
            login = _decode(entry)
            if login is not None:
                credentials.logins[normalise_key(key)] = login
        return credentials

    def add(self, key: str, username: str, password: str) -> None:
        self.logins[normalise_key(key)] = Login(username, password)

    def for_name(self, name: str) -> Login | None:
        """The login for physical name `host/path`: the most specific key wins, never another
        host's."""
        key = name
        while True:
            if key in self.logins:
                return self.logins[key]
            if "/" not in key:
                return None
            key = key.rsplit("/", 1)[0]

    def auth_json(self) -> str:
        """The same logins as a containers auth.json, for skopeo's --authfile."""
        auths = {key: {"auth": login.basic.removeprefix("Basic ")}
                 for key, login in self.logins.items()}
        return json.dumps({"auths": auths})

    def secret_set(self) -> Secrets:
        """What of these credentials must never be shown: each login in every form a registry
        may echo (bot/redaction.py's `login_forms`) and every value the auth file held."""
        secrets = Secrets(self.file_values)
        for login in self.logins.values():
            secrets.add_login(login.username, login.password)
        return secrets

    def __bool__(self) -> bool:
        return bool(self.logins)


def _decode(entry: object) -> Login | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("auth"), str):
        return None
    try:
        decoded = base64.b64decode(entry["auth"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return Login(username, password.strip("\x00")) if sep and username else None
