"""The distribution API the bot speaks itself: manifests, tags, blobs, push checks.

Rule: a digest check is one manifest `HEAD` (Docker Hub counts `GET`s as pulls, not `HEAD`s)
over kept-alive connections, with the same registries.conf and credentials as skopeo; a `GET`
only when a body is needed, and every manifest GET from a source is a pull counted here, on the
source's ledger and for the image being synced (bot/registry/quota.py): refused before it is sent
when the quota has none left. Everything a registry sends is untrusted: digests are checked
against the grammar before they reach a URL, tags against the tag grammar. A refusal by a
mirror (a name under one of `mirrors`, or any push) is `mirror_unauthorized`, the maintainers'
to fix; a refusal by a source is the requester's (`unauthorized`): bot/registry/failures.py.
Every TransferError it raises is redacted as it is made, by the secret set it was given (the
run's, bot/redaction.py) or, without one, by its credentials' own.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from urllib3.response import BaseHTTPResponse

from bot.errors import ErrorKind, TransferError
from bot.image.grammar import SHA256_DIGEST_RE, TAG_RE
from bot.image.oci import ACCEPT, Manifest
from bot.image.reference import Reference, is_valid_path_component
from bot.redaction import Secrets
from bot.registry import blobs
from bot.registry.backoff import Backoff
from bot.registry.blob_upload import Upload
from bot.registry.blobs import DEFAULT_BLOB_COPY, ProgressSink
from bot.registry.containers_conf import Credentials, Endpoint, RegistriesConf
from bot.registry.quota import Ledger
from bot.registry.referrers import Referrers
from bot.registry.transport import DEFAULT_CONNECTIONS_PER_HOST, Transport, discard

DEFAULT_TIMEOUT = 30.0
NEXT_LINK_RE = re.compile(r'<([^>]+)>\s*;[^,]*\brel="?next"?')
MAX_TAG_PAGES = 1000
MAX_TAGS_BODY = 16 << 20


def _pull(endpoint: Endpoint) -> tuple[str]:
    return (f"repository:{endpoint.repository}:pull",)


def _push(endpoint: Endpoint) -> tuple[str]:
    return (f"repository:{endpoint.repository}:pull,push",)


class RegistryClient:
    """The registry API over one shared Transport; safe to use from several threads."""

    def __init__(self, conf: RegistriesConf, credentials: Credentials,
                 timeout: float = DEFAULT_TIMEOUT, *, retry: Backoff | None = None,
                 mirrors: Iterable[str] = (), sleep: Callable[[float], None] = time.sleep,
                 secrets: Secrets | None = None,
                 connections_per_host: int = DEFAULT_CONNECTIONS_PER_HOST) -> None:
        self.conf = conf
        self.credentials = credentials
        self.timeout = timeout
        self.mirrors = tuple(m.rstrip("/") for m in mirrors)
        self.transport = Transport(conf, credentials, timeout, retry or Backoff(), sleep,
                                   secrets=secrets, connections_per_host=connections_per_host)
        self.secrets = self.transport.secrets
        # Requests made while another one is in flight (stage_blob's question to the mirror);
        # these never wait on anything here, so they cannot starve their callers.
        self._aside = ThreadPoolExecutor(32, thread_name_prefix="registry-aside")
        self._referrers: Referrers | None = None
        self._referrers_lock = threading.Lock()

    def close(self) -> None:
        self._aside.shutdown(wait=False, cancel_futures=True)
        self.transport.close()

    def at_mirror(self, ref: Reference) -> bool:
        """Whether `ref` names something on one of our mirrors."""
        return any(ref.name == m or ref.name.startswith(m + "/") for m in self.mirrors)

    def quota(self, ref: Reference) -> Ledger:
        """The pull quota of the registry `ref` is read from (registries.conf applied)."""
        return self.transport.quotas.ledger(self.conf.resolve(ref).host)

    def referrers(self) -> Referrers:
        """Referrers over this client's transport, each read from a source a pull on its
        registry's quota (bot/registry/referrers.py); made once, so what it learns of a
        registry (whether it keeps the referrers API) holds for the run."""
        with self._referrers_lock:
            if self._referrers is None:
                self._referrers = Referrers(self.transport, self.conf,
                                            pull=lambda host: self.transport.quotas.ledger(host).pull())
            return self._referrers

    # -- manifests ------------------------------------------------------------------------------

    def head_digest(self, ref: Reference) -> str | None:
        """The manifest digest of `ref`, or None when the registry has no such manifest."""
        response = self._manifest(ref, "HEAD")
        if response is None:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        if SHA256_DIGEST_RE.match(digest):
            return digest
        manifest = self.get_manifest(ref)  # no usable digest header: hash the body
        return manifest.digest if manifest else None

    def get_manifest(self, ref: Reference) -> Manifest | None:
        response = self._manifest(ref, "GET")
        if response is None:
            return None
        return Manifest.from_bytes(response.data, response.headers.get("Content-Type", ""))

    def put_manifest(self, ref: Reference, manifest: Manifest) -> str:
        response = self._manifest(ref, "PUT", manifest)
        digest = response.headers.get("Docker-Content-Digest", "") if response else ""
        return digest if SHA256_DIGEST_RE.match(digest) else manifest.digest

    def _manifest(self, ref: Reference, method: str,
                  manifest: Manifest | None = None) -> BaseHTTPResponse | None:
        endpoint = self.conf.resolve(ref)
        reference = self._checked_digest(ref.digest) if ref.digest else (ref.tag or "latest")
        headers = {"Accept": ACCEPT}
        if manifest is not None:
            headers["Content-Type"] = manifest.media_type
        writing = manifest is not None
        at_mirror = writing or self.at_mirror(ref)
        pull = (self.transport.quotas.ledger(endpoint.host).pull()
                if method == "GET" and not at_mirror else contextlib.nullcontext())
        with pull:  # a GET from a source spends a pull
            response = self.transport.request(
                endpoint, method, f"/v2/{endpoint.repository}/manifests/{reference}",
                scopes=_push(endpoint) if writing else _pull(endpoint), at_mirror=at_mirror,
                headers=headers, body=manifest.body if manifest else None)
        if response.status == 404 and not writing:
            return None
        if response.status >= 300:
            raise self.transport.status_error(response, ref.name, at_mirror=at_mirror,
                                              host=endpoint.host)
        return response

    # -- tags -----------------------------------------------------------------------------------

    def list_tags(self, repository: Reference, *, page_size: int = 1000) -> list[str]:
        """Every tag of `repository` (tag/digest ignored) by the tags/list API, page by page
        (`n`, `last`, `Link`), with registries.conf honoured. Entries that are not valid tags
        are dropped. Raises TransferError (`not_found` for a missing repository)."""
        endpoint = self.conf.resolve(repository)
        at_mirror = self.at_mirror(repository)
        base = f"/v2/{endpoint.repository}/tags/list"
        path: str | None = f"{base}?n={page_size}"
        tags: dict[str, None] = {}
        seen: set[str] = set()
        while path is not None and path not in seen and len(seen) < MAX_TAG_PAGES:
            seen.add(path)
            response = self.transport.request(endpoint, "GET", path, scopes=_pull(endpoint),
                                              at_mirror=at_mirror, stream=True)
            if response.status >= 300:
                raise self.transport.status_error(response, f"tags of {repository.name}",
                                                  at_mirror=at_mirror, host=endpoint.host)
            tags.update(dict.fromkeys(self._page(response, repository)))
            path = self._next_page(response.headers.get("Link"), base, repository)
        return list(tags)

    def _checked_digest(self, digest: str) -> str:
        if not SHA256_DIGEST_RE.match(digest):
            raise self.transport.error(ErrorKind.UNKNOWN, f"{self.secrets.redact(digest)[:80]!r} "
                                       "is not a sha256 digest")
        return digest

    def _page(self, response: BaseHTTPResponse, repository: Reference) -> list[str]:
        body = response.read(MAX_TAGS_BODY + 1, decode_content=True)
        discard(response)
        try:
            page = json.loads(body) if len(body) <= MAX_TAGS_BODY else None
        except ValueError:
            page = None
        listed = (page.get("tags") or []) if isinstance(page, dict) else None
        if not isinstance(listed, list):
            raise self.transport.error(ErrorKind.UNKNOWN, f"tags of {repository.name}: the "
                                       "registry's answer is not a tag list")
        return [tag for tag in listed if isinstance(tag, str) and TAG_RE.match(tag)]

    def _next_page(self, link: str | None, base: str, repository: Reference) -> str | None:
        match = NEXT_LINK_RE.search(link or "")
        if match is None:
            return None
        parts = urllib.parse.urlsplit(match.group(1))
        if parts.path != base:
            raise self.transport.error(ErrorKind.UNKNOWN, f"tags of {repository.name}: the next "
                                       f"page points elsewhere "
                                       f"({self.secrets.redact(parts.path)[:80]!r})")
        return f"{base}?{parts.query}"

    # -- blobs ----------------------------------------------------------------------------------

    def mount_blob(self, target: Reference, digest: str, from_repository: str) -> bool:
        """Ask the registry of `target` to mount `digest` from `from_repository` (a path on
        that same registry, e.g. `docker.io/library/redis`). True when mounted (201); False
        when the registry started an ordinary upload instead (that upload is cancelled) or
        when `from_repository` is not on the same host once registries.conf is applied.
        ValueError when `from_repository` is not a repository path."""
        if not all(is_valid_path_component(c) for c in from_repository.split("/")):
            raise ValueError(f"{from_repository!r} is not a repository path")
        endpoint = self.conf.resolve(target)
        origin = self.conf.resolve(Reference(target.registry, from_repository))
        if origin.host != endpoint.host:
            return False
        return Upload.mount(self.transport, endpoint, self._checked_digest(digest),
                            origin.repository)

    def mount_from_first(self, target: Reference, digest: str,
                         repositories: Sequence[str]) -> bool:
        """Mount `digest` into `target`'s repository from the first of `repositories` that
        still holds it. A refused or failed mount only means the blob is fetched after all."""
        for repository in repositories:
            if repository == target.repository:
                continue
            try:
                if self.mount_blob(target, digest, repository):
                    return True
            except TransferError:
                continue
        return False

    def stage_blob(self, source: Reference, target: Reference, digest: str, size: int, *,
                   mount_from: Sequence[str] = (), likely_absent: bool = False,
                   chunk_size: int = DEFAULT_BLOB_COPY.chunk_size,
                   parallel: int = DEFAULT_BLOB_COPY.parallel,
                   progress: ProgressSink | None = None) -> str:
        """Make `target`'s repository hold blob `digest`: mounted from the first repository of
        `mount_from` (paths on the same registry) that holds it, found already there, or copied
        from `source` (bot.registry.blobs.copy_blob: ranges of `chunk_size` fetched `parallel`
        at a time, uploaded in order as one upload, the sha256 checked before the commit).
        Whether it is there is one `POST ?mount=&from=` from `target`'s own repository (201:
        it is; 202: the upload to copy into), so a blob already
        there costs no HEAD; when it is `likely_absent`, a blob of one chunk is read upstream
        while that POST is answered. Returns "mounted", "present" or "copied"."""
        endpoint = self.conf.resolve(target)
        digest = self._checked_digest(digest)
        if self.mount_from_first(target, digest, mount_from):
            return "mounted"
        asked = self._aside.submit(self._ask, endpoint, digest)
        if not likely_absent and asked.result() is None:
            return "present"
        copied = blobs.copy_blob(self.transport, self.conf.resolve(source), endpoint, digest,
                                 size, chunk_size=chunk_size, parallel=parallel,
                                 progress=progress, upload=asked)
        return "copied" if copied else "present"

    def _ask(self, endpoint: Endpoint, digest: str) -> Upload | None:
        """None when `endpoint`'s repository holds `digest`; else an upload opened there. A
        registry that refuses the mount question itself (a repository not created yet, say) is
        asked the plain way: a HEAD, then an ordinary POST."""
        try:
            return Upload.mount_or_start(self.transport, endpoint, digest, endpoint.repository)
        except TransferError as error:
            if error.kind == ErrorKind.MIRROR_UNAUTHORIZED:
                raise
        path = f"/v2/{endpoint.repository}/blobs/{digest}"
        response = self.transport.request(endpoint, "HEAD", path, scopes=_push(endpoint),
                                          at_mirror=True)
        discard(response)
        return None if response.status == 200 else Upload.start(self.transport, endpoint)

    def check_push(self, repository: Reference) -> None:
        """Start a blob upload in `repository` and cancel it: raises a classified
        TransferError (`mirror_unauthorized` when our credentials cannot push)."""
        Upload.start(self.transport, self.conf.resolve(repository)).cancel()

