"""What a platform-subset request may write at a mirrored tag (pure; no I/O).

Rule: a subset never replaces a tag mirrored whole: when the tag exists at the mirror and is
not an index mirror-bot wrote for a subset (SUBSET_ANNOTATION), the request is refused. A
subset over an existing subset writes the union of both platform sets, taken from upstream's
current index (nobody loses a platform upstream still serves). A tag the mirror does not have
gets the requested platforms. A whole copy may always replace a subset (it is a superset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import ErrorKind, TransferError
from bot.image.oci import Manifest, select_platforms, subset_index
from bot.image.platform import Platform
from bot.image.reference import Reference
from bot.messages import Message, message

SUBSET_NOTE = message("platform subset: each platform keeps its upstream digest; the index "
                      "listing them is new, so its digest differs from upstream's")
REPLACED_SUBSET_NOTE = message("the whole image replaced a platform subset that was mirrored at "
                               "this tag")


@dataclass(frozen=True)
class SubsetPlan:
    index: Manifest  # the index to write: upstream's, narrowed to `chosen`
    chosen: list[dict[str, Any]]  # upstream's entries for the platforms written
    note: Message


def refuse_narrowing(existing: Manifest | None, target: Reference,
                     requested: Sequence[Platform]) -> None:
    """SUBSET_REFUSED when `target` serves the whole image (anything but a subset we wrote)."""
    if existing is not None and not existing.is_platform_subset:
        raise TransferError(ErrorKind.SUBSET_REFUSED, message(
            "%(target)s is already mirrored with every platform, so a subset would take platforms "
            "away from its users; the tag already serves every platform: pull it with %(option)s",
            target=target, option=f"--platform={requested[0] if requested else 'os/arch'}"))


def plan_subset(upstream: Manifest, requested: Sequence[Platform], existing: Manifest | None,
                source: Reference, target: Reference) -> SubsetPlan:
    """The index to write for `requested` at `target`, where the mirror has `existing`."""
    refuse_narrowing(existing, target, requested)
    kept = [p for p in (existing.platforms() if existing else []) if p not in requested]
    chosen, missing = select_platforms(upstream.entries(), [*requested, *kept])
    unavailable = [p for p in missing if p in requested]
    if unavailable:
        available = sorted({str(p) for p in upstream.platforms()})
        raise TransferError(ErrorKind.PLATFORM_UNAVAILABLE, message(
            "%(source)s has no %(platforms)s image (it has: %(available)s)", source=source,
            platforms=", ".join(map(str, unavailable)), available=", ".join(available)))
    note = SUBSET_NOTE
    if existing is None and target.tag:
        note = message("%(subset)s; the tag was not mirrored before", subset=SUBSET_NOTE)
    gone = [p for p in missing if p in kept]
    if kept and gone:
        note = message("%(subset)s; the subset already mirrored at this tag had %(kept)s, so the "
                       "new index lists the union (upstream no longer serves %(gone)s)",
                       subset=SUBSET_NOTE, kept=", ".join(map(str, kept)),
                       gone=", ".join(map(str, gone)))
    elif kept:
        note = message("%(subset)s; the subset already mirrored at this tag had %(kept)s, so the "
                       "new index lists the union", subset=SUBSET_NOTE, kept=", ".join(map(str, kept)))
    return SubsetPlan(subset_index(upstream, chosen), chosen, note)
