"""What a flow reports for each image it was asked for: the engine's SyncResult, or an image the
flow never handed to the engine.

Rule: the engine's result says what a sync did (`copied`, `unchanged`, `failed`). An image is
`Unsynced` when the plan refused it — `denied` by the allowlist (error kind `not_allowed`) or
`invalid` (kind `invalid`, or a finer one the plan names: `too_many_tags`, `not_found` for a
tag pattern no tag matches) — or when its tag pattern could not be expanded because listing the
tags failed (`failed`, with that TransferError; `deferred` when the registry's quota refused the
listing, with the time it may be asked again). An unsynced image has no digest, platforms or
addresses, spent no pull, and its JSON has the shape of a SyncResult's (the `sync --json`
contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bot import timestamps
from bot.copy.model import SyncResult
from bot.errors import ErrorKind, TransferError
from bot.flows.plan import PlannedImage
from bot.image.platform import Platform
from bot.image.reference import Reference, TagPattern
from bot.messages import Message

UnsyncedStatus = Literal["denied", "invalid", "failed", "deferred"]


@dataclass(frozen=True)
class Refusal:
    """Why the plan refused an image: not a transfer error, nothing was asked of a registry."""

    kind: str  # an ErrorKind's value, or `invalid`
    message: Message


@dataclass(frozen=True)
class Unsynced:
    source: Reference | str
    target: Reference | None
    status: UnsyncedStatus
    error: TransferError | None = None  # the failure that kept it from the engine
    refusal: Refusal | None = None  # the plan's refusal
    resume_after: str | None = None  # deferred: when the registry may be asked again

    @classmethod
    def refused(cls, image: PlannedImage) -> Unsynced:
        """An image the plan did not allow."""
        if image.decision == "allowed":
            raise ValueError(f"{image.input} is allowed: only a refused image is unsynced "
                             "(a tag pattern is expanded before the sync)")
        kind = image.error_kind or (ErrorKind.NOT_ALLOWED if image.decision == "denied" else "invalid")
        return cls(image.source or image.input, image.target, image.decision,
                   refusal=Refusal(str(kind), image.reason))

    @classmethod
    def unlisted(cls, pattern: TagPattern, error: TransferError,
                 now: datetime | None = None) -> Unsynced:
        """A tag pattern whose upstream tags could not be listed: deferred when the registry
        answered 429 (its quota), failed otherwise."""
        if error.kind is not ErrorKind.RATE_LIMITED:
            return cls(str(pattern), None, "failed", error=error)
        wait = timedelta(seconds=error.retry_after or 0)
        return cls(str(pattern), None, "deferred", error=error,
                   resume_after=timestamps.to_text((now or timestamps.now()) + wait))

    @property
    def digest(self) -> str | None:
        return None

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return ()

    @property
    def addresses(self) -> list[Reference]:
        return []

    @property
    def transient(self) -> bool:
        return self.status == "failed" and self.error is not None and self.error.transient

    def to_json(self) -> dict[str, Any]:
        error = (
            {"kind": str(self.error.kind), "message": self.error.message} if self.error
            else {"kind": self.refusal.kind, "message": str(self.refusal.message)} if self.refusal
            else None)
        return {"source": str(self.source), "target": str(self.target) if self.target else None,
                "digest": None, "status": self.status, "error": error, "platforms": "all",
                "signatures": [], "size": None, "note": None,
                "targets": [str(self.target)] if self.target else [], "target_results": [],
                "pulls": 0, "resume_after": self.resume_after}


# One image as a flow reports it (`sync`, an issue's request).
ImageOutcome = SyncResult | Unsynced
