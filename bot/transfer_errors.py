"""Error kinds for registry transfers, shared by the registry client and the skopeo runner.

Rule: every failure gets one kind from a fixed set; transient kinds are retried, the others
are final and reported with what the user can do about them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.errors import MirrorBotError

TRANSIENT_KINDS = frozenset({"network", "timeout", "rate_limited", "server_error"})
KINDS = TRANSIENT_KINDS | {
    "not_found", "unauthorized", "denied", "digest_mismatch", "too_large",
    "platform_unavailable", "invalid", "unknown",
}
USERINFO_RE = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")
TOKEN_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


class TransferError(MirrorBotError):
    """A copy or look-up that failed, classified by `kind`."""

    def __init__(self, kind: str, message: str, *, retry_after: float | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown transfer error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove known secrets, URL user-info and auth headers from text meant for people."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = USERINFO_RE.sub("***@", text)
    return TOKEN_RE.sub(r"\1 ***", text)
