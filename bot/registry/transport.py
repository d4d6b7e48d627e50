"""HTTP to registries over urllib3: pooled kept-alive connections, retries, auth, redirects.

Rule: one urllib3 PoolManager per client, shared by every thread (its pools are thread-safe,
which requests.Session does not promise). Retries live here and only here for registry HTTP:
connection errors, timeouts and 5xx, for idempotent methods, waiting as the one Backoff
says (bot/registry/backoff.py: exponential, with jitter, `Retry-After` honoured and capped); a
429 is retried only at the mirror. A source's 429 is its pull quota spent: asking again spends
nothing but our welcome, so it fails at once, and the registry's ledger (bot/registry/quota.py)
is told, as it is told the quota headers (`ratelimit-remaining`) of every answer from a source:
the copies that follow wait instead of asking. An
https endpoint is always https; an `insecure` one is probed once for https and falls back to
http. TLS settings are built once per run, one
verifying and one not: urllib3 would build them per connection, reading the system's CA
certificates into each (~25 ms of CPU, for each of the dozens of connections of a copy). A
redirect keeps our Authorization only when it stays on the same host. Until a host has
answered once, its requests go one at a time, so threads starting together draw one auth
challenge, not one each. Every failure leaves as a TransferError with its ErrorKind, the side
(source or mirror) deciding who must act on a refusal (bot/registry/failures.py's table), and
its message redacted by the run's secret set as it is made: a registry's own words are
redacted before they are cut short, so no part of a secret survives the cut.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InsecureRequestWarning,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

from bot.errors import ErrorKind, TransferError
from bot.redaction import Secrets
from bot.registry import failures
from bot.registry.auth import Authenticator
from bot.registry.backoff import Backoff
from bot.registry.containers_conf import Credentials, Endpoint, RegistriesConf
from bot.registry.quota import Quotas, TooManyRequests

USER_AGENT = "mirror-bot"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # at the mirror
SOURCE_RETRY_STATUSES = RETRY_STATUSES - {429}  # a source's 429 is its quota: never asked again
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
DEFAULT_CONNECTIONS_PER_HOST = 32
MAX_ERROR_BODY = 64 * 1024
MAX_REGISTRY_MESSAGE = 300  # characters of a registry's own words kept in a message
MAX_TOKEN_BODY = 1 << 20


class _Retry(Retry):
    """urllib3's Retry waiting as our Backoff says, with a sleep that tests can record instead
    of waiting."""

    sleeper: Callable[[float], None] = staticmethod(time.sleep)
    backoff: Backoff = Backoff()
    # Statuses never tried again, even with a Retry-After (which urllib3 honours for 429 and
    # 503 whatever status_forcelist says).
    never: frozenset[int] = frozenset()

    def new(self, **kw: Any) -> _Retry:
        retry = super().new(**kw)
        retry.sleeper, retry.backoff, retry.never = self.sleeper, self.backoff, self.never
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return status_code not in self.never and super().is_retry(method, status_code,
                                                                   has_retry_after)

    def _failures(self) -> int:
        return len([h for h in self.history if h.redirect_location is None])

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        self.sleeper(self.backoff.delay(self._failures(), retry_after))


def registry_errors(body: bytes) -> tuple[str, tuple[str, ...]]:
    """The `errors[].message` texts of a registry's JSON error body (whole: redact them before
    cutting them short) and its `errors[].code`s, if any."""
    try:
        errors = json.loads(body[:MAX_ERROR_BODY]).get("errors") or []
    except (ValueError, AttributeError, UnicodeDecodeError):
        return "", ()
    errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    message = "; ".join(str(e.get("message", "")) for e in errors)
    return message, tuple(str(e["code"]) for e in errors if e.get("code"))


def _retry_after(response: BaseHTTPResponse) -> float | None:
    """An answer's `Retry-After` in seconds, when it gives a number of them."""
    retry_after = str(response.headers.get("Retry-After", "")).strip()
    return float(retry_after) if retry_after.isdigit() else None


def discard(response: BaseHTTPResponse) -> bytes:
    """Done with an answer: its first bytes are returned and the connection goes back to the
    pool, or is closed when more is left (a hostile registry may send gigabytes)."""
    try:
        head = response.read(MAX_ERROR_BODY) or response.data or b""
        if response.read(1):
            response.close()
    except (HTTPError, OSError):
        response.close()
        head = b""
    response.release_conn()
    return head


class Transport:
    """Authenticated requests to registry endpoints, and plain ones to redirect targets.

    `secrets`: the run's secret set (bot/redaction.py), shared with whoever shows this run's
    messages; the credentials' own forms join it, and so does every token obtained. Without
    one, the credentials' forms make a set of its own."""

    def __init__(self, conf: RegistriesConf, credentials: Credentials, timeout: float,
                 retry: Backoff, sleep: Callable[[float], None] = time.sleep, *,
                 secrets: Secrets | None = None,
                 connections_per_host: int = DEFAULT_CONNECTIONS_PER_HOST) -> None:
        self.timeout = timeout
        self.secrets = secrets if secrets is not None else Secrets()
        self.secrets.merge(credentials.secret_set())
        # Kept-alive connections per host: as many as the requests a run keeps in flight to
        # one registry (look-ups and blob streams), so none is closed after one use.
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=connections_per_host, block=False,
                                        timeout=urllib3.Timeout(connect=timeout, read=timeout))
        self.auth = Authenticator(credentials, conf, self._get_token, self.secrets)
        self.quotas = Quotas()
        self._retries = {
            at_mirror: _Retry(total=max(retry.attempts - 1, 0), status_forcelist=statuses,
                              respect_retry_after_header=True, raise_on_status=False)
            for at_mirror, statuses in ((True, RETRY_STATUSES), (False, SOURCE_RETRY_STATUSES))}
        for retries in self._retries.values():
            retries.sleeper, retries.backoff = sleep, retry
        self._retries[False].never = RETRY_STATUSES - SOURCE_RETRY_STATUSES
        self._schemes: dict[str, str] = {}
        self._first_contacts: dict[str, threading.Lock] = {}
        self._first_contacts_lock = threading.Lock()
        self._tls: dict[bool, ssl.SSLContext] = {}  # by "verifies certificates"
        self._tls_lock = threading.Lock()

    def close(self) -> None:
        self.pool.clear()

    def error(self, kind: ErrorKind, message: str, *,
              retry_after: float | None = None) -> TransferError:
        """A TransferError of this transport, its message redacted (bot/registry/failures.py)."""
        return failures.failure(self.secrets, kind, message, retry_after=retry_after)

    def status_error(self, response: BaseHTTPResponse, what: str, *,
                     at_mirror: bool, host: str = "") -> TransferError:
        """The TransferError for an unwanted answer to a request about `what` (sent to `host`:
        a source's 429 then says how long its ledger waits)."""
        status = response.status
        message, codes = registry_errors(discard(response))
        message = self.secrets.redact(message)[:MAX_REGISTRY_MESSAGE]
        detail = f"{what}: HTTP {status}" + (f": {message}" if message else "")
        kind = failures.from_status(status, codes, at_mirror=at_mirror)
        if kind is ErrorKind.MIRROR_UNAUTHORIZED:
            return self.error(kind, f"{detail} (the mirror refused our push credentials; the "
                                    "maintainers must fix them)")
        if kind is ErrorKind.RATE_LIMITED and not at_mirror:  # the source's quota is spent
            wait = self.quotas.ledger(host).wait_for(1) if host else _retry_after(response)
            return TooManyRequests(self.secrets.redact(f"{what}: too many requests"), wait)
        if kind is ErrorKind.RATE_LIMITED:
            return self.error(kind, f"{what}: too many requests",
                              retry_after=_retry_after(response))
        return self.error(kind, detail)

    def transport_error(self, host: str, error: Exception) -> TransferError:
        """A connection-level failure (after retries) as a TransferError."""
        reason = error.reason if isinstance(error, MaxRetryError) and error.reason else error
        # NewConnectionError (refused, unreachable) derives from ConnectTimeoutError in urllib3.
        if isinstance(reason, ConnectTimeoutError | ReadTimeoutError | TimeoutError) and not (
                isinstance(reason, NewConnectionError)):
            return self.error(ErrorKind.TIMEOUT, f"{host}: no answer within {self.timeout:.0f}s")
        return self.error(ErrorKind.NETWORK, f"{host}: {reason.__class__.__name__}: {reason}")

    def request(self, endpoint: Endpoint, method: str, path: str, *, scopes: Sequence[str] = (),
                at_mirror: bool = False, headers: Mapping[str, str] | None = None,
                body: bytes | memoryview | None = None, stream: bool = False) -> BaseHTTPResponse:
        """Send to the registry, answering one auth challenge; redirects are returned as they
        are (see `follow`). `stream` leaves the body unread (release it when done). The first
        request to a host goes alone: others wait until it has learned how the host wants to
        be logged in to, rather than each drawing the same challenge."""
        with self._learning(endpoint.host):
            return self._send(endpoint, method, path, scopes=scopes, at_mirror=at_mirror,
                              headers=headers, body=body, stream=stream)

    @contextlib.contextmanager
    def _learning(self, host: str) -> Iterator[None]:
        """Holds `host`'s first-contact lock while nobody knows how it wants to be logged in to."""
        if self.auth.knows(host):
            yield
            return
        with self._first_contacts_lock:
            lock = self._first_contacts.setdefault(host, threading.Lock())
        with lock:
            yield

    def _send(self, endpoint: Endpoint, method: str, path: str, *, scopes: Sequence[str],
              at_mirror: bool, headers: Mapping[str, str] | None,
              body: bytes | memoryview | None, stream: bool) -> BaseHTTPResponse:
        scheme = self.scheme(endpoint)
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        authorization = self.auth.cached(endpoint, scopes, at_mirror)
        for attempt in (1, 2):
            if authorization:
                sent["Authorization"] = authorization
            response = self._open(endpoint, scheme, method, path, headers=sent, body=body,
                                  stream=stream, at_mirror=at_mirror)
            if not at_mirror:
                self._quota_told(endpoint.host, response)
            challenge = response.headers.get("WWW-Authenticate")
            if response.status != 401 and not authorization:
                self.auth.answered_without_challenge(endpoint.host)
            if response.status != 401 or not challenge or attempt == 2:
                return response
            discard(response)
            authorization = self.auth.answer(endpoint, scheme, scopes, challenge, at_mirror)
        raise AssertionError("unreachable")

    def _quota_told(self, host: str, response: BaseHTTPResponse) -> None:
        """A source's answer: its quota headers go to its ledger, and a 429 exhausts it."""
        ledger = self.quotas.ledger(host)
        ledger.observe(response.headers)
        if response.status == 429:
            ledger.exhausted(_retry_after(response))

    def follow(self, endpoint: Endpoint, response: BaseHTTPResponse, url: str, method: str,
               headers: Mapping[str, str], *, scopes: Sequence[str] = (), at_mirror: bool = False,
               stream: bool = False) -> tuple[BaseHTTPResponse, str]:
        """Follow redirects from `response` (an answer to `url`); our Authorization goes
        along only while the host stays the same. Returns the last answer and its URL."""
        for _ in range(MAX_REDIRECTS):
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                return response, url
            discard(response)
            url = urllib.parse.urljoin(url, location)
            sent = dict(headers)
            if urllib.parse.urlsplit(url).netloc == endpoint.host:
                authorization = self.auth.cached(endpoint, scopes, at_mirror)
                if authorization:
                    sent["Authorization"] = authorization
            response = self.open_url(url, method, sent, stream=stream, host=endpoint.host,
                                     retry_rate_limit=at_mirror)
        raise self.error(ErrorKind.UNKNOWN, f"{endpoint.host}: more than {MAX_REDIRECTS} "
                         "redirects")

    def open_url(self, url: str, method: str = "GET", headers: Mapping[str, str] | None = None, *,
                 body: bytes | memoryview | None = None, stream: bool = False, host: str = "",
                 retry_rate_limit: bool = True) -> BaseHTTPResponse:
        """A request to an absolute URL on another host (a redirect target, an upload location
        elsewhere): no credentials are added. `retry_rate_limit`: a 429 is tried again (not for
        a source's redirect)."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        try:
            parts = urllib3.util.parse_url(url)
            return self._pool_at(parts.scheme or "https", parts.host or "", parts.port).urlopen(
                method, parts.request_uri, body=body,  # type: ignore[arg-type]  # a buffer is sent as is (see _open)
                headers=sent, retries=self._retries[retry_rate_limit].new(),
                redirect=False, preload_content=not stream, decode_content=False)
        except (HTTPError, OSError) as error:
            raise self.transport_error(host or urllib.parse.urlsplit(url).netloc,
                                       error) from error

    def scheme(self, endpoint: Endpoint) -> str:
        """https, or for an insecure endpoint whatever it answers on (probed once)."""
        if endpoint.host in self._schemes:
            return self._schemes[endpoint.host]
        scheme = "https"
        if endpoint.insecure:
            try:
                self._pool(endpoint, "https").urlopen(
                    "GET", "/v2/", headers={"User-Agent": USER_AGENT}, retries=False,
                    redirect=False).drain_conn()
            except (HTTPError, OSError):
                scheme = "http"
        self._schemes[endpoint.host] = scheme
        return scheme

    def url(self, endpoint: Endpoint, path: str) -> str:
        """The absolute URL of `path` at `endpoint` (redirects resolve against it)."""
        return f"{self.scheme(endpoint)}://{endpoint.host}{path}"

    def _pool(self, endpoint: Endpoint, scheme: str) -> urllib3.HTTPConnectionPool:
        parts = urllib3.util.parse_url(f"{scheme}://{endpoint.host}")
        return self._pool_at(scheme, parts.host or "", parts.port,
                             verify=not endpoint.insecure)

    def _pool_at(self, scheme: str, host: str, port: int | None, *,
                 verify: bool = True) -> urllib3.HTTPConnectionPool:
        kwargs: dict[str, Any] = {}
        if scheme == "https":
            kwargs["ssl_context"] = self._tls_context(verify=verify)
            if not verify:  # registries.conf `insecure`: no certificate check
                urllib3.disable_warnings(InsecureRequestWarning)
                kwargs |= {"cert_reqs": "CERT_NONE", "assert_hostname": False}
        return self.pool.connection_from_host(host, port, scheme, pool_kwargs=kwargs)

    def _tls_context(self, *, verify: bool) -> ssl.SSLContext:
        """This run's TLS settings: verifying against the system's CA certificates (read once,
        honouring SSL_CERT_FILE and SSL_CERT_DIR), or not verifying at all."""
        with self._tls_lock:
            context = self._tls.get(verify)
            if context is None:
                context = create_urllib3_context(
                    cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
                if verify:
                    context.load_default_certs()
                self._tls[verify] = context
            return context

    def _open(self, endpoint: Endpoint, scheme: str, method: str, path: str, *,
              headers: Mapping[str, str], body: bytes | memoryview | None,
              stream: bool, at_mirror: bool) -> BaseHTTPResponse:
        try:
            return self._pool(endpoint, scheme).urlopen(
                # A memoryview goes to the socket as it is (urllib3's body_to_chunks takes any
                # buffer; its annotation names bytes only): an 8 MiB chunk is never copied.
                method, path, body=body,  # type: ignore[arg-type]  # a buffer is sent as is
                headers=dict(headers), retries=self._retries[at_mirror].new(),
                redirect=False, preload_content=not stream, decode_content=False)
        except (HTTPError, OSError) as error:
            raise self.transport_error(endpoint.host, error) from error

    def _get_token(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        response = self.open_url(url, "GET", headers, stream=True)
        body = response.read(MAX_TOKEN_BODY)
        discard(response)
        return response.status, body
