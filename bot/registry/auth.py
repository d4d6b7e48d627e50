"""Registry authentication: Basic and Bearer-token challenges, tokens cached per host and scope.

Rule: a login goes only to the registry it belongs to (looked up by the physical name, see
containers_conf) and to the token realm that registry's challenge names, and never over plain
http unless that host is a loopback address or registries.conf marks it insecure. HEAD and GET
share the pull token (one cache entry per host and scope); a host that asked for a token or
for Basic is answered up front afterwards, without another 401 round trip. A refused token
request is classified by side (source or mirror). Every token obtained joins the run's secret
set the moment it is obtained, before anything can echo it back.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.errors import ErrorKind
from bot.redaction import Secrets
from bot.registry.containers_conf import Credentials, Endpoint, Login, RegistriesConf, is_loopback
from bot.registry.failures import failure, from_status, refusal

DEFAULT_TOKEN_LIFETIME = 60.0  # seconds, as the token specification assumes when none is given
EXPIRY_MARGIN = 10.0
# (url, headers) -> (status, body): a GET at the token realm, supplied by the transport.
TokenGetter = Callable[[str, dict[str, str]], tuple[int, bytes]]


@dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate challenge: its scheme (lower case) and parameters."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        params = urllib.request.parse_keqv_list(
            [item for item in urllib.request.parse_http_list(rest) if "=" in item])
        return cls(scheme.lower(), {key.lower(): value for key, value in params.items()})


class Authenticator:
    """Answers registry challenges and caches the answers; safe to share between threads."""

    def __init__(self, credentials: Credentials, conf: RegistriesConf, get: TokenGetter,
                 secrets: Secrets) -> None:
        self.credentials = credentials
        self.conf = conf
        self.secrets = secrets
        self._get = get
        self._tokens: dict[tuple[str, tuple[str, ...]], tuple[str, float]] = {}
        self._basic_hosts: set[str] = set()
        self._bearer: dict[str, Challenge] = {}
        self._open_hosts: set[str] = set()  # answered without a challenge: no login wanted
        self._lock = threading.Lock()

    def knows(self, host: str) -> bool:
        """Whether `host` has answered once: how it wants to be logged in to, or that it does
        not (until then, requests to it learn that one at a time: bot/registry/transport.py)."""
        with self._lock:
            return host in self._basic_hosts or host in self._bearer or host in self._open_hosts

    def answered_without_challenge(self, host: str) -> None:
        with self._lock:
            self._open_hosts.add(host)

    def cached(self, endpoint: Endpoint, scopes: Sequence[str], at_mirror: bool) -> str | None:
        """The Authorization value to send up front: a token still valid for these scopes; a
        new one when the host is known to want tokens (no 401 round trip per repository, nor
        when a token expires mid-upload); Basic for a host that asked for it."""
        with self._lock:
            token = self._tokens.get((endpoint.host, tuple(scopes)))
            basic = endpoint.host in self._basic_hosts
            bearer = self._bearer.get(endpoint.host)
        if token and token[1] > time.monotonic():
            return token[0]
        if bearer is not None and scopes:
            return self._bearer_answer(endpoint, bearer, scopes, at_mirror)
        login = self.credentials.for_name(endpoint.name)
        return login.basic if basic and login else None

    def answer(self, endpoint: Endpoint, scheme: str, scopes: Sequence[str], header: str,
               at_mirror: bool) -> str:
        """The Authorization value that answers the challenge in `header` (a 401's
        WWW-Authenticate) for `endpoint` reached over `scheme`."""
        challenge = Challenge.parse(header)
        if challenge.scheme == "basic":
            login = self.credentials.for_name(endpoint.name)
            if login is None:
                raise failure(self.secrets, refusal(at_mirror), f"{endpoint.registry} requires a "
                              "login; none is configured for it")
            if not self._may_send(scheme, endpoint.host):
                raise failure(self.secrets, refusal(at_mirror), f"{endpoint.registry} asks for a "
                              "password over plain http; mark it insecure in registries.conf to "
                              "allow it")
            with self._lock:
                self._basic_hosts.add(endpoint.host)
            return login.basic
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            raise failure(self.secrets, ErrorKind.UNKNOWN, f"{endpoint.registry}: unsupported "
                          f"auth challenge {self.secrets.redact(challenge.scheme)[:40]!r}")
        with self._lock:  # remembered without its scope, which names one repository
            self._bearer[endpoint.host] = Challenge(challenge.scheme, {
                key: value for key, value in challenge.params.items() if key != "scope"})
        return self._bearer_answer(endpoint, challenge, scopes, at_mirror)

    def _bearer_answer(self, endpoint: Endpoint, challenge: Challenge, scopes: Sequence[str],
                       at_mirror: bool) -> str:
        login = self.credentials.for_name(endpoint.name)
        token, lifetime = self._token(endpoint, challenge, scopes, login, at_mirror)
        with self._lock:
            self._tokens[(endpoint.host, tuple(scopes))] = (
                token, time.monotonic() + max(lifetime - EXPIRY_MARGIN, 1.0))
        return token

    def _may_send(self, scheme: str, host: str) -> bool:
        return scheme == "https" or is_loopback(host) or self.conf.is_insecure(host)

    def _token(self, endpoint: Endpoint, challenge: Challenge, scopes: Sequence[str],
               login: Login | None, at_mirror: bool) -> tuple[str, float]:
        realm = challenge.params["realm"]
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise failure(self.secrets, ErrorKind.UNKNOWN, f"{endpoint.registry}: token realm "
                          f"{self.secrets.redact(realm)[:100]!r} is not an http(s) URL")
        wanted = [s for s in challenge.params.get("scope", "").split() if s]
        wanted += [s for s in scopes if s not in wanted]
        query = [("service", challenge.params["service"])] if challenge.params.get("service") else []
        query += [("scope", scope) for scope in wanted]
        headers: dict[str, str] = {}
        withheld = login is not None and not self._may_send(parts.scheme, parts.netloc)
        if login is not None and not withheld:
            query.append(("account", login.username))
            headers["Authorization"] = login.basic
        separator = "&" if parts.query else "?"
        status, body = self._get(realm + separator + urllib.parse.urlencode(query), headers)
        if status != 200:
            why = (f"; its login was not sent to {parts.netloc} over plain http" if withheld
                   else "")
            raise failure(self.secrets, _token_refusal(status, at_mirror), f"{endpoint.registry}: "
                          f"the token service answered HTTP {status}{why}")
        token, lifetime = _parse_token(body)
        if token is None:
            raise failure(self.secrets, refusal(at_mirror), f"{endpoint.registry}: the token "
                          "service answered without a token")
        self.secrets.add(token)  # before it is used: whatever echoes it from now on is redacted
        return f"Bearer {token}", lifetime


def _token_refusal(status: int, at_mirror: bool) -> ErrorKind:
    """The table's kind of the token service's answer, but a token service has no image to
    miss: its 404 is not the image's."""
    kind = from_status(status, at_mirror=at_mirror)
    return ErrorKind.UNKNOWN if kind is ErrorKind.NOT_FOUND else kind


def _parse_token(body: bytes) -> tuple[str | None, float]:
    """The token of a token service's answer and its lifetime in seconds; None: no token."""
    try:
        payload = json.loads(body)
        token = payload.get("token") or payload.get("access_token")
        lifetime = float(payload.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (ValueError, AttributeError, TypeError):
        return None, 0.0
    return (token, lifetime) if isinstance(token, str) and token else (None, 0.0)
