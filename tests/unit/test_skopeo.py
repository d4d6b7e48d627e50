"""The skopeo runner's pure parts: stderr classified by kind and side through the one failure
table, the arguments it builds, the Backoff it retries with (real skopeo runs in
tests/integration/test_skopeo.py)."""

from __future__ import annotations

import pytest

from bot.copy.syncer import Syncer
from bot.errors import ErrorKind, TransferError
from bot.image.reference import Reference, parse
from bot.redaction import redact
from bot.registry.backoff import Backoff
from bot.registry.failures import from_status, from_stderr
from bot.registry.skopeo import docker_arg

BLOB = "sha256:" + "a" * 64


@pytest.mark.parametrize(("stderr", "kind"), [
    ('reading manifest 1.0 in 127.0.0.1:5000/x: manifest unknown: manifest unknown', "not_found"),
    ("initializing source docker://x: requested access to the resource is denied", "unauthorized"),
    ("unauthorized: authentication required", "unauthorized"),
    ("toomanyrequests: You have reached your pull rate limit", "rate_limited"),
    ("received unexpected HTTP status: 429 Too Many Requests", "rate_limited"),
    ("reading manifest 1 in 127.0.0.1:5000/x: received unexpected HTTP status: 403 Forbidden",
     "unauthorized"),
    ("writing manifest: uploading manifest 1 to 127.0.0.1:1/x: received unexpected HTTP "
     "status: 403 Forbidden", "mirror_unauthorized"),
    (f"reading blob {BLOB}: Error fetching blob: invalid status code from registry 403 "
     "(Forbidden)", "unauthorized"),
    # a registry's error code in skopeo's words counts as the code
    ("writing blob: initiating layer upload to /v2/x/blobs/uploads/ in 127.0.0.1:1: unavailable: "
     "try later", "server_error"),
    ("dial tcp 127.0.0.1:9: connect: connection refused", "network"),
    ("read tcp 1.2.3.4:443: i/o timeout", "timeout"),
    ("x509: certificate signed by unknown authority", "network"),
    ("received unexpected HTTP status: 503 Service Unavailable", "server_error"),
    ("something nobody has seen", "unknown"),
    # skopeo 1.9.3's own words, by side: the destination is always the mirror
    (f"copying image 1/2 from manifest list: trying to reuse blob {BLOB} at destination: "
     f"checking whether a blob {BLOB} exists in 127.0.0.1:1/x/probe: unauthorized: "
     "authentication required", "mirror_unauthorized"),
    ("initializing source docker://private.example.io/x:1: reading manifest 1 in "
     "127.0.0.1:1/private.example.io/x: unauthorized: authentication required", "unauthorized"),
    ("writing blob: initiating layer upload to /v2/x/blobs/uploads/ in 127.0.0.1:1: denied: "
     "rejected", "mirror_unauthorized"),
    ("writing manifest: uploading manifest 1.0 to 127.0.0.1:1/x: unauthorized: authentication "
     "required", "mirror_unauthorized"),
    (f"copying image: writing blob: reading blob {BLOB}: fetching blob: unauthorized: "
     "authentication required", "unauthorized"),
    # digits in digests, tags and names are never status codes
    ("copying image: reading blob sha256:" + "0401" * 16 + ": read tcp 10.0.0.1:443: connection "
     "reset by peer", "network"),
    ("reading manifest v1.401 in 127.0.0.1:5000/x: received unexpected HTTP status: 502 Bad "
     "Gateway", "server_error"),
    ("reading manifest 429 in 127.0.0.1:5000/x/429: manifest unknown", "not_found"),
    # a mirror answering "not found" while we write to it is not the user's image missing
    ("writing blob: initiating layer upload to /v2/x/blobs/uploads/ in 127.0.0.1:1: "
     "received unexpected HTTP status: 404 Not Found", "unknown"),
])
def test_stderr_is_classified(stderr: str, kind: str) -> None:
    assert from_stderr(stderr) == ErrorKind(kind)


@pytest.mark.parametrize(("status", "codes", "at_mirror", "kind"), [
    (401, (), False, "unauthorized"),
    (403, ("DENIED",), False, "unauthorized"),  # a source's 403 as its 401: the requester's
    (403, (), True, "mirror_unauthorized"),
    (401, (), True, "mirror_unauthorized"),
    (404, ("MANIFEST_UNKNOWN",), True, "not_found"),
    (404, ("UNAVAILABLE",), False, "not_found"),  # the status decides when it is in the table
    (429, (), False, "rate_limited"),
    (502, (), False, "server_error"),
    (400, ("NAME_UNKNOWN",), False, "not_found"),  # the code, for a status in no row
    (400, ("DENIED",), True, "mirror_unauthorized"),
    (400, ("MANIFEST_INVALID",), False, "unknown"),
    (418, (), False, "unknown"),
])
def test_answers_are_classified_by_status_then_by_error_code_and_by_side(
        status: int, codes: tuple[str, ...], at_mirror: bool, kind: str) -> None:
    assert from_status(status, codes, at_mirror=at_mirror) == ErrorKind(kind)


def test_redaction_removes_secrets_userinfo_and_tokens() -> None:
    text = "https://bob:hunter22@r.io/v2 Authorization: Bearer abcdefghijkl hunter22"
    cleaned = redact(text, ["hunter22"])
    assert "hunter22" not in cleaned and "abcdefghijkl" not in cleaned


def test_references_cannot_become_options() -> None:
    assert docker_arg(parse("nginx")) == "docker://docker.io/library/nginx:latest"
    with pytest.raises(ValueError):
        docker_arg(Reference("-x", "y"))


class Flaky:
    """Fails with the given errors, then answers: exercises the retry policy alone."""

    def __init__(self, errors: list[TransferError]) -> None:
        self.errors = errors
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_transient_errors_are_retried_with_backoff_and_retry_after() -> None:
    delays: list[float] = []
    syncer = Syncer(registry=None, copier=None,  # type: ignore[arg-type]  # the retries alone: no registry, no copier
                    retry=Backoff(attempts=3, base_delay=1.0), sleep=delays.append)
    flaky = Flaky([TransferError("server_error", "502"),
                   TransferError("timeout", "no answer", retry_after=7)])
    assert syncer._with_retries(flaky) == "ok"
    assert flaky.calls == 3
    assert 0.5 <= delays[0] <= 1.0 and delays[1] == 7


def test_the_backoff_doubles_less_its_jitter_up_to_its_cap_and_a_retry_after_replaces_it() -> None:
    backoff = Backoff(attempts=5, base_delay=1.0, max_delay=3.0, jitter=0.5)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 3.0), (4, 3.0)]:
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(full / 2 <= delay <= full for delay in delays), attempt
    assert Backoff(jitter=0.0).delay(3) == 8.0
    assert backoff.delay(1, retry_after=2.5) == 2.5 and backoff.delay(1, retry_after=90) == 3.0
    assert [backoff.again(attempt) for attempt in (1, 4, 5)] == [True, True, False]


@pytest.mark.parametrize("kind", ["not_found", "unauthorized", "too_large", "rate_limited"])
def test_final_errors_and_429s_are_not_retried(kind: str) -> None:
    """A 429 is transient (the request waits) but never asked again at once: at a source it
    is the pull quota, spent until later (bot/registry/quota.py)."""
    syncer = Syncer(registry=None, copier=None, sleep=lambda _: None)  # type: ignore[arg-type]
    flaky = Flaky([TransferError(kind, "no")])
    with pytest.raises(TransferError):
        syncer._with_retries(flaky)
    assert flaky.calls == 1
