"""The sync engine's values: requests, results, and the ports it uses.

Rule: `SyncItem` and `SyncResult` are the engine's contract with the flows (fields are added,
never renamed); a result's status is only what the engine did (what the flows decide around
it, a plan's refusal or resync's reading of a failure, is theirs: bot/flows/outcomes.py);
`to_json` is the `sync --json` contract. An image the source's pull quota stopped is
`deferred`, not `failed`: error kind `rate_limited`, with the time it may be tried again
(`resume_after`); every result tells the manifest GETs it spent upstream (`pulls`). What came
along with an image (bot/copy/referrers.py) never changes its status: `referrers` counts what
was copied by artifact type, and `referrers_incomplete` says that something could not be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.errors import TransferError
from bot.image.oci import Manifest
from bot.image.platform import Platform
from bot.image.reference import Reference
from bot.messages import Message
from bot.registry.quota import Ledger
from bot.registry.referrers import Referrers

Status = Literal["copied", "unchanged", "failed", "deferred"]
# The statuses whose target serves the image: copied now, or already there.
SERVING: frozenset[str] = frozenset({"copied", "unchanged"})
Artifact = Literal["image", "chart", "artifact"]
AddressStatus = Literal["copied", "unchanged", "failed"]


class Registry(Protocol):
    def head_digest(self, ref: Reference) -> str | None: ...
    def get_manifest(self, ref: Reference) -> Manifest | None: ...
    def put_manifest(self, ref: Reference, manifest: Manifest) -> str: ...
    def mount_blob(self, target: Reference, digest: str, from_repository: str) -> bool: ...
    def list_tags(self, repository: Reference) -> list[str]: ...
    def quota(self, ref: Reference) -> Ledger: ...
    def at_mirror(self, ref: Reference) -> bool: ...
    def referrers(self) -> Referrers: ...
    def stage_blob(self, source: Reference, target: Reference, digest: str, size: int, *,
                   chunk_size: int, parallel: int) -> str: ...


class Copier(Protocol):
    def copy(self, source: Reference, destination: Reference, *, all_platforms: bool = True,
             platform: Platform | None = None) -> None: ...
    def inspect_digest(self, ref: Reference) -> str | None: ...


@dataclass(frozen=True)
class SyncItem:
    source: Reference | str
    target: Reference  # the primary mirror's canonical address
    platforms: tuple[Platform, ...] = ()
    also: tuple[Reference, ...] = ()  # further addresses: Docker Hub's short form, other mirrors
    # The index entries a record last saw at this source (what a cold copy reads after the
    # index); None: not known.
    entries: int | None = None
    # The referrer set a record last saw of the top digest (its no-op check compares it), and
    # whether that copy left some out (then they are tried again); None: not known.
    referrers: str | None = None
    referrers_incomplete: bool = False
    # Tell a chart or another artifact from an image even when it is already current (one GET
    # at the mirror, never upstream): for a request's comment, not for resync's checks.
    describe: bool = False


@dataclass(frozen=True)
class AddressResult:
    target: Reference
    status: AddressStatus
    error: TransferError | None = None

    def to_json(self) -> dict[str, object]:
        error = {"kind": str(self.error.kind), "message": self.error.message} if self.error else None
        return {"target": str(self.target), "status": self.status, "error": error}


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
    note: Message | None = None  # our own sentence about what was written
    also: list[AddressResult] = field(default_factory=list)  # each further address, on its own
    # What the digest written serves, when the sync read its index (not for `sync --json`,
    # whose `platforms` is what was asked for): the status page lists it.
    served: tuple[Platform, ...] = ()
    pulls: int = 0  # manifest GETs spent upstream
    resume_after: str | None = None  # deferred: when the source's quota lets it be read again
    entries: int | None = None  # the index's entries, when the sync read it (0: not an index)
    # What came along (bot/copy/referrers.py): copied by artifact type, the top digest's set as
    # one digest (None: none), whether some could not be, said for people, and whether a
    # signature is among them (None: not known, nothing was copied: a record keeps its word).
    referrers: dict[str, int] = field(default_factory=dict)
    referrer_set: str | None = None
    referrers_incomplete: bool = False
    referrer_gaps: list[str] = field(default_factory=list)  # why, for the run's log (English)
    came_along: Message | None = None
    signed: bool | None = None
    artifact: Artifact | None = None  # what the digest is, when the sync looked

    @property
    def addresses(self) -> list[Reference]:
        """Every address that serves the image now: the primary, then the further ones."""
        if self.status not in SERVING or self.target is None:
            return []
        return [self.target, *(a.target for a in self.also if a.status != "failed")]

    @property
    def transient(self) -> bool:
        """A failure worth trying again (a deferred image waits for its time instead)."""
        return self.status == "failed" and self.error is not None and self.error.transient

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target) if self.target else None,
            "digest": self.digest,
            "status": self.status,
            "error": {"kind": str(self.error.kind), "message": self.error.message}
            if self.error else None,
            "platforms": [str(p) for p in self.platforms] if self.platforms else "all",
            "signatures": self.signatures,
            "size": self.size,
            "note": str(self.note) if self.note else None,
            "targets": [str(t) for t in [self.target, *(a.target for a in self.also)] if t],
            "target_results": [a.to_json() for a in self.also],
            "pulls": self.pulls,
            "resume_after": self.resume_after,
            "referrers": self.referrers,
            "referrers_incomplete": self.referrers_incomplete,
        }
