"""The project's error types and the one list of transfer error kinds.

Rule: everything user input or configuration can trigger derives from MirrorBotError and is
reported in one line, never as a traceback. Every failed transfer has exactly one ErrorKind,
and the kind alone decides whether it is retried (`transient`): transient kinds leave a request
open for the sweep; the others are final and told to the user with what they can do. An error
that may reach a comment is made with a Message (bot/messages.py), kept as `said` so the comment
can translate it; `str(error)` is the English sentence.
"""

from __future__ import annotations

from enum import StrEnum

from bot.messages import Message


class MirrorBotError(Exception):
    """Base class for errors the bot reports to users instead of crashing."""

    def __init__(self, said: Message | str = "") -> None:
        super().__init__(str(said))
        # What a reader is shown: our own sentence (translated), or text quoted as received.
        self.said = said


class InvalidReference(MirrorBotError):
    """An image reference that does not follow the distribution reference grammar."""

    said: Message

    def __init__(self, text: str, reason: Message) -> None:
        super().__init__(reason)
        self.text = text
        self.reason = str(reason)


class ConfigError(MirrorBotError):
    """Bad configuration: allowlist, naming template, environment. Exit 2, nothing done."""


class ErrorKind(StrEnum):
    """Why a transfer failed, or why an image was refused before any transfer. The value is the
    stable name used in JSON and records."""

    NOT_FOUND = "not_found"
    # The source refused us (401 or 403): private, or does not exist.
    UNAUTHORIZED = "unauthorized"
    MIRROR_UNAUTHORIZED = "mirror_unauthorized"  # the mirror refused our push credentials
    NOT_ALLOWED = "not_allowed"  # this mirror's allowlist refuses it: no registry was asked
    RATE_LIMITED = "rate_limited"
    NETWORK = "network"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    DIGEST_MISMATCH = "digest_mismatch"
    TOO_LARGE = "too_large"
    PLATFORM_UNAVAILABLE = "platform_unavailable"
    TAG_MOVED = "tag_moved"  # name:tag@digest where the tag no longer resolves to that digest
    SUBSET_REFUSED = "subset_refused"  # a platform subset over a tag mirrored whole
    TOO_MANY_TAGS = "too_many_tags"
    UNKNOWN = "unknown"

    @property
    def transient(self) -> bool:
        """Retried (by the transport, then by the sweep): the same request may succeed later.

        `mirror_unauthorized` is the maintainers' to fix, not the user's: the request waits.
        `digest_mismatch` is a copy that raced with a tag move or a flaky mirror. `unknown` is
        an error nobody classified yet: waiting costs less than closing a request for it.
        """
        return self in TRANSIENT_KINDS


TRANSIENT_KINDS = frozenset({
    ErrorKind.MIRROR_UNAUTHORIZED, ErrorKind.RATE_LIMITED, ErrorKind.NETWORK, ErrorKind.TIMEOUT,
    ErrorKind.SERVER_ERROR, ErrorKind.DIGEST_MISMATCH, ErrorKind.UNKNOWN,
})


class TransferError(MirrorBotError):
    """A copy or look-up that failed, classified by `kind`."""

    def __init__(self, kind: ErrorKind | str, message: Message | str, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = str(message)  # English: `--json`, records, logs
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.kind.transient
