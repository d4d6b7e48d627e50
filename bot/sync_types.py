"""The sync engine's values: requests, results, the retry policy, and the ports it uses.

Rule: `SyncItem` and `SyncResult` are the engine's contract with the flows (fields are added,
never renamed); `to_json` is the `sync --json` contract.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.errors import TransferError
from bot.oci import Manifest
from bot.platform import Platform
from bot.reference import Reference

Status = Literal["copied", "unchanged", "failed", "denied", "invalid"]


class Registry(Protocol):
    def head_digest(self, ref: Reference) -> str | None: ...
    def get_manifest(self, ref: Reference) -> Manifest | None: ...
    def put_manifest(self, ref: Reference, manifest: Manifest) -> str: ...


class Copier(Protocol):
    def copy(self, source: Reference, destination: Reference, *, all_platforms: bool = True,
             platform: Platform | None = None) -> None: ...
    def inspect_digest(self, ref: Reference) -> str | None: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int, error: TransferError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True)
class SyncItem:
    source: Reference | str
    target: Reference
    platforms: tuple[Platform, ...] = ()


@dataclass
class SyncResult:
    source: Reference | str
    target: Reference | None
    status: Status
    digest: str | None = None
    error: TransferError | None = None
    platforms: tuple[Platform, ...] = ()
    signatures: list[str] = field(default_factory=list)
    size: int | None = None  # bytes of the config and layers of what was copied
    elapsed: float = 0.0
    note: str | None = None
    refusal: str | None = None  # why the plan refused it (denied, invalid): not a transfer error
    refusal_kind: str | None = None  # a finer kind for the refusal (e.g. too_many_tags)

    @property
    def transient(self) -> bool:
        return self.error is not None and self.error.transient

    def _error_json(self) -> dict[str, str] | None:
        if self.error is not None:
            return {"kind": str(self.error.kind), "message": self.error.message}
        if self.refusal is not None:
            return {"kind": self.refusal_kind or self.status, "message": self.refusal}
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target) if self.target else None,
            "digest": self.digest,
            "status": self.status,
            "error": self._error_json(),
            "platforms": [str(p) for p in self.platforms] if self.platforms else "all",
            "signatures": self.signatures,
            "size": self.size,
            "note": self.note,
        }
