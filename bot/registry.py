"""Manifest look-ups straight from registries: HEAD for digests, GET only when a body is needed.

Rule: a digest check is one manifest `HEAD` (Docker Hub counts `GET`s as pulls, not `HEAD`s)
over a kept-alive connection, honouring the same registries.conf (prefix -> location,
insecure) and credentials as skopeo, with Bearer-token and Basic auth. Errors are classified
into the same kinds as skopeo's.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import threading
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.blobs import DEFAULT_BLOB_COPY, ProgressSink
from bot.errors import ConfigError, TransferError
from bot.oci import ACCEPT, Manifest
from bot.reference import Reference

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DEFAULT_TIMEOUT = 30.0
CHALLENGE_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Endpoint:
    host: str
    repository: str
    insecure: bool


@dataclass(frozen=True)
class RegistriesConf:
    """The parts of containers-registries.conf(5) that decide where a name is pulled from."""

    entries: tuple[tuple[str, str, bool], ...] = ()  # (prefix, location, insecure)

    @classmethod
    def load(cls, path: Path | None) -> RegistriesConf:
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read registries.conf {path}: {error}") from error
        entries = []
        for entry in data.get("registry", []):
            location = entry.get("location", "")
            prefix = entry.get("prefix") or location
            if prefix:
                entries.append((prefix, location or prefix, bool(entry.get("insecure", False))))
        # The longest matching prefix wins, as in containers/image.
        entries.sort(key=lambda item: len(item[0]), reverse=True)
        return cls(tuple(entries))

    def resolve(self, ref: Reference) -> Endpoint:
        name = ref.name
        for prefix, location, insecure in self.entries:
            if name == prefix or name.startswith(prefix + "/"):
                mapped = location + name[len(prefix):]
                host, _, repository = mapped.partition("/")
                return Endpoint(host, repository, insecure)
        host = DOCKER_HUB_ENDPOINT if ref.registry == "docker.io" else ref.registry
        return Endpoint(host, ref.repository, False)


@dataclass
class Credentials:
    """user:password per registry host, from a containers auth.json and explicit entries."""

    by_host: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_auth_file(cls, path: Path | None) -> Credentials:
        credentials = cls()
        if path is None or not path.exists():
            return credentials
        try:
            auths = json.loads(path.read_text()).get("auths", {})
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read auth file {path}: {error}") from error
        for key, entry in auths.items():
            host = urllib.parse.urlsplit(key).netloc if "://" in key else key.split("/")[0]
            if host in {"index.docker.io", DOCKER_HUB_ENDPOINT}:
                host = "docker.io"
            try:
                user, _, password = base64.b64decode(entry.get("auth", "")).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            if user:
                credentials.by_host[host] = (user, password)
        return credentials

    def add(self, host: str, user: str, password: str) -> None:
        self.by_host[host] = (user, password)

    def for_host(self, *hosts: str) -> tuple[str, str] | None:
        for host in hosts:
            if host in self.by_host:
                return self.by_host[host]
        return None

    def auth_json(self) -> str:
        auths = {
            host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
            for host, (user, password) in self.by_host.items()
        }
        return json.dumps({"auths": auths})

    def secrets(self) -> list[str]:
        return [password for _, password in self.by_host.values() if password]


class RegistryClient:
    """Talks the distribution API for manifests. One kept-alive connection per host and thread."""

    def __init__(self, conf: RegistriesConf, credentials: Credentials,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.conf = conf
        self.credentials = credentials
        self.timeout = timeout
        self._local = threading.local()
        self._tokens: dict[tuple[str, str], str] = {}
        self._schemes: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- public API -------------------------------------------------------------------------

    def head_digest(self, ref: Reference) -> str | None:
        """The manifest digest of `ref`, or None when the registry has no such manifest."""
        endpoint = self.conf.resolve(ref)
        status, headers, _ = self._request(ref, endpoint, "HEAD", self._manifest_path(ref, endpoint))
        if status == 404:
            return None
        digest = headers.get("docker-content-digest")
        if not digest:
            manifest = self.get_manifest(ref)
            return manifest.digest if manifest else None
        return digest

    def get_manifest(self, ref: Reference) -> Manifest | None:
        endpoint = self.conf.resolve(ref)
        status, headers, body = self._request(ref, endpoint, "GET", self._manifest_path(ref, endpoint))
        if status == 404:
            return None
        return Manifest.from_bytes(body, headers.get("content-type", ""))

    def put_manifest(self, ref: Reference, manifest: Manifest) -> str:
        endpoint = self.conf.resolve(ref)
        _, headers, _ = self._request(ref, endpoint, "PUT", self._manifest_path(ref, endpoint),
                                      body=manifest.body, content_type=manifest.media_type)
        return headers.get("docker-content-digest", manifest.digest)

    # -- API for the sync engine (issue 13, issue 15) ------------------------------------------

    def list_tags(self, repository: Reference, *, page_size: int = 1000) -> list[str]:
        """Every tag of `repository` (tag/digest ignored) by the tags/list API, page by page
        (`n`, `last`, `Link`), with registries.conf honoured. Entries that are not valid tags
        are dropped. Raises TransferError (`not_found` for a missing repository)."""
        raise NotImplementedError

    def blob_size(self, repository: Reference, digest: str) -> int | None:
        """The size of blob `digest` in `repository` by HEAD (redirects followed without our
        Authorization), or None when the registry does not have it."""
        raise NotImplementedError

    def mount_blob(self, target: Reference, digest: str, from_repository: str) -> bool:
        """Ask the registry of `target` to mount `digest` from `from_repository` (a path on
        that same registry, e.g. `docker.io/library/redis`). True when mounted (201); False
        when the registry started an ordinary upload instead (that upload is cancelled)."""
        raise NotImplementedError

    def copy_blob(self, source: Reference, target: Reference, digest: str, size: int, *,
                  chunk_size: int = DEFAULT_BLOB_COPY.chunk_size,
                  parallel: int = DEFAULT_BLOB_COPY.parallel,
                  progress: ProgressSink | None = None) -> None:
        """Copy blob `digest` of `size` bytes from `source`'s repository to `target`'s: ranges
        of `chunk_size` fetched `parallel` at a time, uploaded in order as one upload, sha256
        checked before the commit (`digest_mismatch`, nothing committed, otherwise). Falls
        back to one stream when ranges are not served. `progress` is called as bytes move."""
        raise NotImplementedError

    def check_push(self, repository: Reference) -> None:
        """Start a blob upload in `repository` and cancel it: raises a classified
        TransferError (`mirror_unauthorized` when our credentials cannot push)."""
        raise NotImplementedError

    # -- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _manifest_path(ref: Reference, endpoint: Endpoint) -> str:
        reference = ref.digest or ref.tag or "latest"
        return f"/v2/{endpoint.repository}/manifests/{reference}"

    def _connection(self, scheme: str, endpoint: Endpoint) -> http.client.HTTPConnection:
        host = endpoint.host
        connections = getattr(self._local, "connections", None)
        if connections is None:
            connections = self._local.connections = {}
        key = (scheme, host)
        if key not in connections:
            if scheme == "https":
                context = ssl.create_default_context()
                if endpoint.insecure:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                connections[key] = http.client.HTTPSConnection(host, timeout=self.timeout,
                                                               context=context)
            else:
                connections[key] = http.client.HTTPConnection(host, timeout=self.timeout)
        return connections[key]

    def _drop(self, scheme: str, host: str) -> None:
        connection = getattr(self._local, "connections", {}).pop((scheme, host), None)
        if connection is not None:
            connection.close()

    def _send(self, endpoint: Endpoint, method: str, path: str, headers: dict[str, str],
              body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        schemes = [self._schemes[endpoint.host]] if endpoint.host in self._schemes else (
            ["https", "http"] if endpoint.insecure else ["https"])
        last_error: Exception | None = None
        for scheme in schemes:
            for attempt in range(2):  # a kept-alive connection the server closed is retried once
                connection = self._connection(scheme, endpoint)
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    with self._lock:
                        self._schemes[endpoint.host] = scheme
                    return response.status, {k.lower(): v for k, v in response.getheaders()}, data
                except ssl.SSLError as error:
                    self._drop(scheme, endpoint.host)
                    last_error = error
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                    self._drop(scheme, endpoint.host)
                    last_error = error
                    if attempt == 1:
                        break
                except TimeoutError as error:
                    self._drop(scheme, endpoint.host)
                    raise TransferError("timeout", f"{endpoint.host}: no answer within "
                                                   f"{self.timeout:.0f}s") from error
                except OSError as error:
                    self._drop(scheme, endpoint.host)
                    last_error = error
                    break
        raise TransferError("network", f"{endpoint.host}: {last_error}") from last_error

    def _request(self, ref: Reference, endpoint: Endpoint, method: str, path: str, *,
                 body: bytes | None = None, content_type: str | None = None,
                 ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": ACCEPT, "User-Agent": "mirror-bot"}
        if content_type:
            headers["Content-Type"] = content_type
        # One token per repository and access: HEAD and GET share the pull token.
        access = "pull" if method in {"GET", "HEAD"} else "push"
        scope_key = (endpoint.host, f"{endpoint.repository}:{access}")
        authorization = self._tokens.get(scope_key)
        for _ in range(2):
            if authorization:
                headers["Authorization"] = authorization
            status, response_headers, data = self._send(endpoint, method, path, headers, body)
            if status != 401 or "www-authenticate" not in response_headers:
                break
            authorization = self._authorize(ref, endpoint, response_headers["www-authenticate"])
            with self._lock:
                self._tokens[scope_key] = authorization
        return self._check(status, response_headers, data, ref, endpoint)

    def _authorize(self, ref: Reference, endpoint: Endpoint, challenge: str) -> str:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(CHALLENGE_PARAM_RE.findall(params_text))
        login = self.credentials.for_host(endpoint.host, ref.registry)
        if scheme.lower() == "basic":
            if login is None:
                raise TransferError("unauthorized", f"{ref.registry} requires credentials; none "
                                                    "are configured for it")
            return "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        realm = params.get("realm")
        if scheme.lower() != "bearer" or not realm:
            raise TransferError("unknown", f"{ref.registry}: unsupported auth challenge {scheme!r}")
        query = {k: v for k, v in (("service", params.get("service")),
                                   ("scope", params.get("scope"))) if v}
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        token_headers = {"User-Agent": "mirror-bot"}
        if login:
            token_headers["Authorization"] = "Basic " + base64.b64encode(
                f"{login[0]}:{login[1]}".encode()).decode()
        parts = urllib.parse.urlsplit(url)
        token_endpoint = Endpoint(parts.netloc, "", parts.scheme == "http")
        with self._lock:
            self._schemes.setdefault(parts.netloc, parts.scheme)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, _, data = self._send(token_endpoint, "GET", path, token_headers, None)
        if status != 200:
            raise TransferError("unauthorized", f"{ref.registry}: token request refused "
                                                f"(HTTP {status})")
        payload = json.loads(data or b"{}")
        token = payload.get("token") or payload.get("access_token")
        if not token:
            raise TransferError("unauthorized", f"{ref.registry}: token response has no token")
        return f"Bearer {token}"

    @staticmethod
    def _check(status: int, headers: Mapping[str, str], data: bytes, ref: Reference,
               endpoint: Endpoint) -> tuple[int, dict[str, str], bytes]:
        if status < 300 or status == 404:
            return status, dict(headers), data
        message = _registry_message(data)
        detail = message or f"HTTP {status}"
        if status == 401:
            raise TransferError("unauthorized", f"{ref.name}: {detail}")
        if status == 403:
            raise TransferError("denied", f"{ref.name}: {detail}")
        if status == 429:
            retry_after = headers.get("retry-after")
            raise TransferError("rate_limited", f"{ref.registry}: too many requests",
                                retry_after=float(retry_after) if retry_after and
                                retry_after.isdigit() else None)
        if status >= 500:
            raise TransferError("server_error", f"{endpoint.host}: HTTP {status}"
                                                + (f": {message}" if message else ""))
        raise TransferError("unknown", f"{ref.name}: HTTP {status}" + (f": {message}" if message else ""))


def _registry_message(data: bytes) -> str:
    try:
        errors = json.loads(data).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
