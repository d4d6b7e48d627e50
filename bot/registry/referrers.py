"""OCI 1.1 referrers at a registry: listed by the referrers API or the tag schema, written by
digest, and the tag schema's index kept without losing another writer's entries.

Rule: a subject's referrers are asked of the referrers API (`GET /v2/<name>/referrers/<digest>`,
an OCI index, paginated with `Link`); a 404 there means the registry has no such API (the spec
says a registry that has one answers 200, an empty index for a subject it does not know), and it
is not asked again this run: its referrers are the index under the tag `<alg>-<hex>`, whose
existence a HEAD tells before a GET reads it. Every listing is bounded (descriptors kept, pages,
bytes per page); a bound reached marks the listing `truncated`, never silently complete.

A referrer is put by its digest; a registry that keeps the referrers API itself says so with
`OCI-Subject: <subject digest>` on that PUT. One that does not needs the tag schema's index
updated: read it, merge ours in (every entry there kept as written), put it, then read it again
and merge again until a read lists all of ours — distribution has no conditional PUT, so a
writer whose entry another one's write dropped finds that out on its next read and puts it
back. Writers in one process take turns per subject (a lock), so they never race; another
process's write can still drop an entry after its writer's last read — the window is one
request wide, and resync, which compares upstream's referrers with the mirror's, puts it back.
The rounds are bounded; an index that never settles is a TransferError, not a loss hidden. The
index's own digest is never compared: a merged index is other bytes.

A manifest GET from a source is a pull: the tag schema's index goes through `pull` (the caller's
quota, by host), counted and refused like the copy's own (bot/registry/quota.py). A referrers
API GET is no manifest GET, and is not counted.
"""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from urllib3.response import BaseHTTPResponse

from bot.errors import ErrorKind
from bot.image.grammar import SHA256_DIGEST_RE
from bot.image.oci import ACCEPT, OCI_INDEX, Manifest
from bot.image.reference import Reference
from bot.image.referrers import (
    MAX_INDEX_BYTES,
    Descriptor,
    ReferrersError,
    ReferrersIndex,
    referrers_tag,
    subject_of,
)
from bot.registry.containers_conf import Endpoint, RegistriesConf
from bot.registry.transport import Transport, discard

NEXT_LINK_RE = re.compile(r'<([^>]+)>\s*;[^,]*\brel="?next"?')
MAX_PAGES = 20  # of one subject's referrers listing: each page is bounded, so is their number
MAX_MERGE_ROUNDS = 5  # reads of the tag schema's index after a write, until it lists ours
NO_API = frozenset({404, 405})  # a registry (or a proxy before it) without the referrers API
SUBJECT_HEADER = "OCI-Subject"
PullGuard = Callable[[str], AbstractContextManager[object]]


def _no_guard(_host: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Listing:
    """A subject's referrers as a registry lists them."""

    descriptors: tuple[Descriptor, ...] = ()
    by_api: bool = False  # the referrers API answered; else the tag schema (or nothing) did
    truncated: bool = False  # a bound was reached: more may be listed than these
    ignored: int = 0  # entries that were no descriptor
    tag_digest: str | None = None  # the tag schema's index, when one was read

    @property
    def index(self) -> ReferrersIndex:
        return ReferrersIndex(self.descriptors, self.ignored)


@dataclass(frozen=True)
class Put:
    """A referrer written: its digest, and whether the registry keeps the referrers API for it."""

    digest: str
    subject_kept: bool


class Referrers:
    """Referrers at the registries of one Transport; safe to use from several threads."""

    def __init__(self, transport: Transport, conf: RegistriesConf, *,
                 pull: PullGuard = _no_guard) -> None:
        self.transport = transport
        self.conf = conf
        self.pull = pull
        self._api: dict[str, bool] = {}  # host -> serves the referrers API (as learnt this run)
        self._lock = threading.Lock()
        self._writers: dict[tuple[str, str, str], threading.Lock] = {}  # (host, repository, tag)

    # -- reading --------------------------------------------------------------------------------

    def listed(self, repository: Reference, subject: str, *, at_mirror: bool,
               max_count: int) -> Listing:
        """The referrers of `subject` in `repository`'s registry: the API's, or the tag
        schema's index where there is no API; at most `max_count` descriptors."""
        endpoint = self.conf.resolve(repository)
        subject = self._checked(subject)
        if self.serves_api(endpoint.host) is not False:
            listing = self._from_api(endpoint, subject, at_mirror=at_mirror, max_count=max_count)
            if listing is not None:
                return listing
        return self.from_tag(repository, subject, at_mirror=at_mirror, max_count=max_count)

    def serves_api(self, host: str) -> bool | None:
        """Whether `host` answered the referrers API this run (None: not asked yet)."""
        with self._lock:
            return self._api.get(host)

    def _learnt(self, host: str, serves: bool) -> None:
        with self._lock:
            self._api[host] = serves

    def _from_api(self, endpoint: Endpoint, subject: str, *, at_mirror: bool,
                  max_count: int) -> Listing | None:
        base = f"/v2/{endpoint.repository}/referrers/{subject}"
        path: str | None = base
        found: dict[str, Descriptor] = {}
        ignored, pages, truncated = 0, 0, False
        while path is not None:
            if pages == MAX_PAGES:
                truncated = True
                break
            pages += 1
            # Not a manifest GET: no pull (Docker Hub counts `GET /v2/<name>/manifests/<ref>`).
            response = self.transport.request(
                endpoint, "GET", path, scopes=_pull(endpoint), at_mirror=at_mirror,
                headers={"Accept": OCI_INDEX}, stream=True)
            if response.status in NO_API and pages == 1:
                discard(response)
                self._learnt(endpoint.host, False)
                return None
            if response.status >= 300:
                raise self.transport.status_error(response, f"referrers of {endpoint.name}@{subject}",
                                                  at_mirror=at_mirror)
            self._learnt(endpoint.host, True)
            page = self._index(response, f"referrers of {endpoint.name}@{subject}")
            ignored += page.ignored
            for descriptor in page.descriptors:
                if len(found) == max_count and descriptor.digest not in found:
                    truncated = True
                    break
                found.setdefault(descriptor.digest, descriptor)
            if truncated:
                break
            path = self._next_page(response.headers.get("Link"), base, endpoint)
        return Listing(tuple(found.values()), by_api=True, truncated=truncated, ignored=ignored)

    def marker(self, repository: Reference, subject: str, *, max_count: int) -> Listing:
        """What tells whether a source's referrers of `subject` changed, at the least cost: the
        API's listing where it is served (a GET, no pull), else the tag schema's index by its
        HEAD alone (`tag_digest`, no descriptors): the same digest, the same index."""
        endpoint = self.conf.resolve(repository)
        subject = self._checked(subject)
        if self.serves_api(endpoint.host) is not False:
            listing = self._from_api(endpoint, subject, at_mirror=False, max_count=max_count)
            if listing is not None:
                return listing
        return Listing(tag_digest=self._tag_head(endpoint, referrers_tag(subject), at_mirror=False))

    def _tag_head(self, endpoint: Endpoint, tag: str, *, at_mirror: bool) -> str | None:
        """The digest the tag schema's index has (a HEAD), None when there is none."""
        path = f"/v2/{endpoint.repository}/manifests/{tag}"
        head = self.transport.request(endpoint, "HEAD", path, scopes=_pull(endpoint),
                                      at_mirror=at_mirror, headers={"Accept": ACCEPT})
        discard(head)
        if head.status == 404:
            return None
        if head.status >= 300:
            raise self.transport.status_error(head, f"{endpoint.name}:{tag}", at_mirror=at_mirror)
        digest = head.headers.get("Docker-Content-Digest", "")
        return digest if SHA256_DIGEST_RE.match(digest) else ""

    def from_tag(self, repository: Reference, subject: str, *, at_mirror: bool,
                 max_count: int | None) -> Listing:
        """The tag schema's index of `subject`: a HEAD (free), then a GET only when it exists;
        `max_count` None keeps every entry (the mirror's own index, which a merge rewrites)."""
        endpoint = self.conf.resolve(repository)
        tag = referrers_tag(self._checked(subject))
        path = f"/v2/{endpoint.repository}/manifests/{tag}"
        head = self._tag_head(endpoint, tag, at_mirror=at_mirror)
        if head is None:
            return Listing()
        guard = contextlib.nullcontext() if at_mirror else self.pull(endpoint.host)
        with guard:
            response = self.transport.request(endpoint, "GET", path, scopes=_pull(endpoint),
                                              at_mirror=at_mirror, headers={"Accept": ACCEPT},
                                              stream=True)
        if response.status == 404:  # removed between the two requests
            discard(response)
            return Listing()
        if response.status >= 300:
            raise self.transport.status_error(response, f"{endpoint.name}:{tag}", at_mirror=at_mirror)
        body = self._body(response, f"{endpoint.name}:{tag}")
        index = self._parse(body, f"{endpoint.name}:{tag}")
        kept = index.descriptors if max_count is None else index.descriptors[:max_count]
        return Listing(kept, truncated=len(kept) < len(index.descriptors), ignored=index.ignored,
                       tag_digest=head or Manifest.from_bytes(body, OCI_INDEX).digest)

    # -- writing --------------------------------------------------------------------------------

    def put(self, repository: Reference, manifest: Manifest) -> Put:
        """Put a referrer by its digest at the mirror; the registry must name that digest."""
        endpoint = self.conf.resolve(repository)
        response = self.transport.request(
            endpoint, "PUT", f"/v2/{endpoint.repository}/manifests/{manifest.digest}",
            scopes=_push(endpoint), at_mirror=True,
            headers={"Content-Type": manifest.media_type}, body=manifest.body)
        if response.status >= 300:
            raise self.transport.status_error(response, f"{endpoint.name}@{manifest.digest}",
                                              at_mirror=True)
        discard(response)
        answered = response.headers.get("Docker-Content-Digest", "")
        if answered and answered != manifest.digest:
            raise self.transport.error(ErrorKind.DIGEST_MISMATCH, f"{endpoint.name}: the mirror "
                                       f"stored {answered[:80]!r} for {manifest.digest}")
        subject = subject_of(manifest)
        kept = subject is not None and response.headers.get(SUBJECT_HEADER, "").strip() == subject
        if subject is not None:
            self._learnt(endpoint.host, kept or bool(self.serves_api(endpoint.host)))
        return Put(manifest.digest, kept)

    def add_to_tag_index(self, repository: Reference, subject: str,
                         ours: Iterable[Descriptor], *,
                         rounds: int = MAX_MERGE_ROUNDS) -> tuple[ReferrersIndex, int]:
        """Make the mirror's tag-schema index of `subject` list every one of `ours`, keeping
        every entry already there. Returns the index as last read and the writes it took."""
        ours = tuple(ours)
        endpoint = self.conf.resolve(repository)
        tag = referrers_tag(self._checked(subject))
        with self._lock:
            turn = self._writers.setdefault((endpoint.host, endpoint.repository, tag), threading.Lock())
        with turn:
            return self._merge(repository, subject, ours, rounds)

    def _merge(self, repository: Reference, subject: str, ours: tuple[Descriptor, ...],
               rounds: int) -> tuple[ReferrersIndex, int]:
        endpoint = self.conf.resolve(repository)
        tag = referrers_tag(subject)
        for writes in range(rounds + 1):
            present = self.from_tag(repository, subject, at_mirror=True, max_count=None).index
            if not present.missing(ours):
                return present, writes
            merged = present.merged(ours)
            response = self.transport.request(
                endpoint, "PUT", f"/v2/{endpoint.repository}/manifests/{tag}",
                scopes=_push(endpoint), at_mirror=True, headers={"Content-Type": OCI_INDEX},
                body=merged.body())
            if response.status >= 300:
                raise self.transport.status_error(response, f"{endpoint.name}:{tag}",
                                                  at_mirror=True)
            discard(response)
        raise self.transport.error(ErrorKind.SERVER_ERROR, f"{endpoint.name}:{tag}: the referrers "
                                   f"index kept changing under other writers ({rounds} rounds)")

    # -- helpers --------------------------------------------------------------------------------

    def _checked(self, digest: str) -> str:
        if not SHA256_DIGEST_RE.match(digest):
            raise self.transport.error(ErrorKind.UNKNOWN, f"{digest[:80]!r} is not a sha256 digest")
        return digest

    def _body(self, response: BaseHTTPResponse, what: str) -> bytes:
        body = response.read(MAX_INDEX_BYTES + 1, decode_content=True)
        discard(response)
        if len(body) > MAX_INDEX_BYTES:
            raise self.transport.error(ErrorKind.TOO_LARGE, f"{what}: a referrers index of more "
                                       f"than {MAX_INDEX_BYTES} bytes")
        return body

    def _parse(self, body: bytes, what: str) -> ReferrersIndex:
        try:
            return ReferrersIndex.parse(body)
        except ReferrersError as error:
            raise self.transport.error(ErrorKind.UNKNOWN, f"{what}: {error}") from error

    def _index(self, response: BaseHTTPResponse, what: str) -> ReferrersIndex:
        return self._parse(self._body(response, what), what)

    def _next_page(self, link: str | None, base: str, endpoint: Endpoint) -> str | None:
        match = NEXT_LINK_RE.search(link or "")
        if match is None:
            return None
        parts = urllib.parse.urlsplit(match.group(1))
        if parts.path != base:
            raise self.transport.error(ErrorKind.UNKNOWN, f"referrers of {endpoint.name}: the next "
                                       f"page points elsewhere ({parts.path[:80]!r})")
        return f"{base}?{parts.query}" if parts.query else base


def _pull(endpoint: Endpoint) -> tuple[str]:
    return (f"repository:{endpoint.repository}:pull",)


def _push(endpoint: Endpoint) -> tuple[str]:
    return (f"repository:{endpoint.repository}:pull,push",)

