"""One blob upload session at a registry: start, append chunks in order, commit, or cancel.

Rule: an upload is POST, then PATCHes in order (each with its Content-Range, following the
Location every answer gives), then PUT `?digest=` (which may carry the last bytes, or all of a
small blob: the spec's monolithic upload); chunks of one blob never go out of order
(the distribution spec answers 416). Anything that fails before the commit cancels the upload
(DELETE), so a failed copy leaves nothing behind. Upload locations on another host get no
credentials. Every refusal here is the mirror's (`mirror_unauthorized` for 401/403).
"""

from __future__ import annotations

import contextlib
import urllib.parse
from dataclasses import dataclass

from urllib3.response import BaseHTTPResponse

from bot.errors import ErrorKind, TransferError
from bot.registry.containers_conf import Endpoint
from bot.registry.transport import Transport, discard

OCTET_STREAM = "application/octet-stream"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


@dataclass
class Upload:
    """An upload in progress; `offset` is how many bytes the registry has accepted."""

    transport: Transport
    endpoint: Endpoint
    location: str
    offset: int = 0

    @classmethod
    def start(cls, transport: Transport, endpoint: Endpoint) -> Upload:
        """POST a new upload session."""
        path = f"/v2/{endpoint.repository}/blobs/uploads/"
        response = transport.request(endpoint, "POST", path,
                                     scopes=(push_scope(endpoint.repository),), at_mirror=True,
                                     headers={"Content-Length": "0"})
        return cls._opened(transport, endpoint, path, response)

    @classmethod
    def mount(cls, transport: Transport, endpoint: Endpoint, digest: str,
              from_repository: str) -> bool:
        """Ask for `digest` to be mounted from `from_repository` (same host): True on 201;
        False when the registry opened an ordinary upload instead (cancelled here)."""
        upload = cls.mount_or_start(transport, endpoint, digest, from_repository)
        if upload is None:
            return True
        upload.cancel()
        return False

    @classmethod
    def mount_or_start(cls, transport: Transport, endpoint: Endpoint, digest: str,
                       from_repository: str) -> Upload | None:
        """POST `?mount=&from=`: None when the blob is mounted, or was already in this very
        repository when `from_repository` is it (201); else the upload the registry opened
        instead (202, the spec's fallback), for the caller to use or cancel."""
        query = urllib.parse.urlencode({"mount": digest, "from": from_repository})
        path = f"/v2/{endpoint.repository}/blobs/uploads/?{query}"
        scopes = (push_scope(endpoint.repository), f"repository:{from_repository}:pull")
        response = transport.request(endpoint, "POST", path, scopes=scopes, at_mirror=True,
                                     headers={"Content-Length": "0"})
        if response.status == 201:
            discard(response)
            return None
        return cls._opened(transport, endpoint, path, response)

    @classmethod
    def _opened(cls, transport: Transport, endpoint: Endpoint, path: str,
                response: BaseHTTPResponse) -> Upload:
        location = response.headers.get("Location")
        if response.status != 202 or not location:
            raise transport.status_error(response, f"starting an upload to {endpoint.name}",
                                         at_mirror=True)
        return cls(transport, endpoint, urllib.parse.urljoin(transport.url(endpoint, path),
                                                             location))

    def append(self, data: bytes | memoryview) -> None:
        """PATCH the next chunk; the registry must accept exactly these bytes at `offset`."""
        end = self.offset + len(data) - 1
        response = self._send("PATCH", self.location, data, {
            "Content-Type": OCTET_STREAM, "Content-Length": str(len(data)),
            "Content-Range": f"{self.offset}-{end}"})
        if response.status != 202:
            raise self.transport.status_error(response, f"uploading to {self.endpoint.name}",
                                              at_mirror=True)
        self.offset += len(data)
        self._move(response)

    def commit(self, digest: str, data: bytes | memoryview = b"") -> None:
        """PUT `?digest=` with the bytes not yet sent (`data`, often none): the registry checks
        the digest and makes the blob visible."""
        parts = urllib.parse.urlsplit(self.location)
        query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("digest", digest)])
        url = urllib.parse.urlunsplit(parts._replace(query=query))
        headers = {"Content-Length": str(len(data))}
        if data:
            headers["Content-Type"] = OCTET_STREAM
        response = self._send("PUT", url, data or None, headers)
        if response.status != 201:
            if response.status == 400:
                raise self.transport.error(ErrorKind.DIGEST_MISMATCH, f"{self.endpoint.name} "
                                           f"refused blob {digest} at commit (HTTP 400); nothing "
                                           "was recorded")
            raise self.transport.status_error(response, f"committing {digest} to "
                                              f"{self.endpoint.name}", at_mirror=True)

    def cancel(self) -> None:
        """DELETE the upload; a registry that cannot is left to expire it on its own."""
        with contextlib.suppress(TransferError):
            discard(self._send("DELETE", self.location, None, {}))

    def _move(self, response: BaseHTTPResponse) -> None:
        location = response.headers.get("Location")
        if location:
            self.location = urllib.parse.urljoin(self.location, location)

    def _send(self, method: str, url: str, body: bytes | memoryview | None,
              headers: dict[str, str]) -> BaseHTTPResponse:
        parts = urllib.parse.urlsplit(url)
        if parts.netloc != self.endpoint.host:
            return self.transport.open_url(url, method, headers, body=body,
                                           host=self.endpoint.host)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.transport.request(self.endpoint, method, path,
                                      scopes=(push_scope(self.endpoint.repository),),
                                      at_mirror=True, headers=headers, body=body)
