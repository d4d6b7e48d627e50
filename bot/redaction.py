"""Secrets out of everything meant for people or other programs: logs, comments, summaries,
reports, JSON, the status page.

Rule: a run has one secret set (`Secrets`): every password and token it holds — the registry
tokens it obtains included, each added as it is obtained — each login's `user:password` and
its base64 (standard and URL-safe, with and without padding), and every credential value of an
auth file. A message is redacted where it is made, before anything escapes or encodes it
(Markdown, HTML and JSON spell a secret differently, and a truncated secret is no longer found),
and every output channel passes `redact` (or `Secrets.redact`, the same function) once more:
known secrets, URL user-info, Authorization header values and JSON Web Tokens become `***`.
Redacting twice is harmless.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

MASK = "***"
MIN_SECRET = 3  # shorter values would blank ordinary words
USERINFO_RE = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")
TOKEN_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# A JSON Web Token (header.payload.signature, both JSON objects: `{"` is `eyJ` in base64url), as
# registries' token services issue them: caught even when nobody told us about it (skopeo's own).
JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def login_forms(username: str, password: str) -> tuple[str, ...]:
    """The spellings of a login a registry may send back: the password, `user:password`, and
    the base64 of that (standard and URL-safe, with and without padding)."""
    pair = f"{username}:{password}".encode()
    standard = base64.b64encode(pair).decode()
    url_safe = base64.urlsafe_b64encode(pair).decode()
    return (password, pair.decode(), standard, standard.rstrip("="), url_safe,
            url_safe.rstrip("="))


class Secrets:
    """A run's secret set; safe to share between threads, and grows while the run does (a
    token is added when it is obtained, so whoever holds the set redacts it from then on)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()  # longest first: a secret inside another goes last
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str) -> None:
        """Secrets as they are written (passwords, tokens, an auth file's values)."""
        new = {value for value in values if value and len(value) >= MIN_SECRET}
        with self._lock:
            if new <= self._values:
                return
            self._values |= new
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def add_login(self, username: str | None, password: str | None) -> None:
        """A login, in every form of `login_forms` (the password alone, without a user)."""
        if password:
            self.add(*(login_forms(username, password) if username else (password,)))

    def merge(self, other: Iterable[str]) -> None:
        self.add(*other)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    def redact(self, text: str) -> str:
        return redact(text, self)

    def redact_data(self, data: Any) -> Any:
        """JSON-like `data` with every string redacted, ready to be encoded (a secret that JSON
        escapes, one with a quote or a backslash, is found only before)."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {self.redact_data(key): self.redact_data(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(item) for item in data]
        return data

    def json(self, data: Any) -> str:
        """`data` as the JSON a command prints or writes (reports, index.json), redacted before
        it is encoded."""
        return json.dumps(self.redact_data(data), indent=2)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with known secrets, URL user-info, auth header values and JWTs made `***`."""
    ordered = (secrets._ordered if isinstance(secrets, Secrets) else sorted(
        {s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True))
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    text = USERINFO_RE.sub(f"{MASK}@", text)
    text = TOKEN_RE.sub(rf"\1 {MASK}", text)
    return JWT_RE.sub(MASK, text)


class RedactedStream:
    """A text stream whose every write passes `redact` first; everything else is the wrapped
    stream's (a print writes each argument whole, so no secret is split between two writes)."""

    def __init__(self, stream: TextIO, secrets: Secrets) -> None:
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str) -> int:
        self._stream.write(self._secrets.redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def redirected(secrets: Secrets) -> Iterator[None]:
    """Standard output and error redacted by `secrets` while the block runs: whatever prints
    inside it (a flow, the local forge's echo, an error line) is redacted on its way out."""
    out = RedactedStream(sys.stdout, secrets)
    err = RedactedStream(sys.stderr, secrets)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield
