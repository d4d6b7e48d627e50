"""The index of what is mirrored, derived from the bot's own records.

Rule: each succeeded request issue carries, in the bot's one comment, a record (source, target,
digest, platforms asked for and served, first and last sync; see bot/records/record.py). The
index is rebuilt from those records, never written as shared state, so overlapping runs cannot
lose each other's updates: every issue's record is written only by the run that holds that
issue. The newest record per target wins, whichever is read first; the first sync is the
earliest any record gives, and the platforms served are kept from an older record of the same
digest when the newest did not see them. A stale entry (its address is not what today's naming
gives) is listed as stale and never resynced.

Shards split the current entries deterministically, so every shard of a run, reading the same
index, agrees on the split without talking to the others: the images of the k-th quota-limited
registry (`settings.quota_registries`: a signed-in quota is per account, and shards that each read
`ratelimit-remaining` would overspend it) all go to shard k, the rest by a stable hash of the
target over the shards left. A run's shard count follows the index's size (`shard_count`, at most
GitHub Actions' matrix limit), and its record rewrites share one budget, each shard's part in
proportion to its images (`record_update_shares`).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from bot.errors import ConfigError
from bot.image.reference import split_domain
from bot.records.record import Outcome, RecordedImage, ResultRecord
from bot.records.trust import ImageCheck, Standing

MAX_SHARDS = 256  # GitHub Actions' limit on the jobs one matrix makes
# A shard job's own cost (a runner, set-up) is about a minute; an unchanged image costs two
# manifest HEADs, so a shard of this many images spends most of its time on what moved.
IMAGES_PER_SHARD = 200
# One resync run's record rewrites, every shard together: each is 2 REST requests (read, edit),
# so a run spends at most 200 REST requests (100 writes) however many shards it has, which fits
# the busiest hour's 1,000 beside the requests and the sweep (README, "GitHub API budget").
RECORD_UPDATES_PER_RUN = 100


@dataclass(frozen=True)
class IndexEntry:
    """A recorded image, where its record is, and whether today's naming still gives it."""

    image: RecordedImage
    last_sync: str = ""
    issue: int | None = None
    issue_url: str = ""
    comment_id: int | None = None
    stale: str = ""  # why the entry is stale; empty when it is current

    @property
    def source(self) -> str:
        return self.image.source

    @property
    def target(self) -> str:
        return self.image.target

    @property
    def digest(self) -> str:
        return self.image.digest

    @property
    def platforms(self) -> tuple[str, ...]:
        return self.image.platforms

    @property
    def shown_platforms(self) -> tuple[str, ...]:
        """The platforms a reader is told the address serves: those the copy saw, else the
        subset asked for; empty when the record lists neither (a whole copy it did not read)."""
        return self.image.served or self.image.platforms

    @property
    def first_sync(self) -> str:
        return self.image.first_sync

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address that serves the image: the primary's canonical one first."""
        return (self.image.target, *self.image.also)

    def to_json(self) -> dict[str, Any]:
        return {**self.image.to_json(), "last_sync": self.last_sync, "issue": self.issue,
                "issue_url": self.issue_url, "comment_id": self.comment_id, "stale": self.stale}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexEntry:
        image = RecordedImage(str(data["source"]), str(data["target"]), str(data["digest"]),
                              tuple(data.get("platforms") or ()), str(data.get("first_sync", "")),
                              tuple(map(str, data.get("also") or ())),
                              tuple(map(str, data.get("served") or ())),
                              _entries(data.get("entries")),
                              str(data["referrers"]) if data.get("referrers") else None,
                              data.get("referrers_incomplete") is True, data.get("signed") is True)
        return cls(image, last_sync=str(data.get("last_sync", "")), issue=data.get("issue"),
                   issue_url=str(data.get("issue_url", "")), comment_id=data.get("comment_id"),
                   stale=str(data.get("stale") or ""))

# Waiting for its first run / failed, waiting to retry / deferred by the source's pull quota.
QueueState = Literal["pending", "failing", "waiting"]


@dataclass(frozen=True)
class QueueEntry:
    """An open request not yet mirrored, when it was opened (the issue's created_at), and, when
    the source's pull quota deferred it, when it resumes."""

    issue: int
    title: str
    url: str
    state: QueueState
    opened_at: str
    resume_after: str = ""


@dataclass
class Index:
    entries: dict[str, IndexEntry] = field(default_factory=dict)  # by target
    queue: list[QueueEntry] = field(default_factory=list)
    last_resync: dict[str, Any] | None = None
    generated_at: str = ""

    def add(self, entry: IndexEntry) -> None:
        current = self.entries.get(entry.target)
        if current is None:
            self.entries[entry.target] = entry
            return
        newer, older = (entry, current) if entry.last_sync >= current.last_sync else (current, entry)
        first = min(filter(None, [entry.first_sync, current.first_sync]), default="")
        image = replace(newer.image, first_sync=first).keeping_served(older.image)
        self.entries[entry.target] = replace(newer, image=image)

    def sorted_entries(self) -> list[IndexEntry]:
        return sorted(self.entries.values(), key=lambda e: e.target)

    def current(self) -> list[IndexEntry]:
        """The entries resync keeps current (not stale), by target."""
        return [e for e in self.sorted_entries() if not e.stale]

    def shard(self, index: int, count: int, quota_registries: Sequence[str] = ()) -> list[IndexEntry]:
        """The current entries of shard `index` of `count`."""
        return [e for e in self.current() if shard_for(e, count, quota_registries) == index]

    def shard_count(self, quota_registries: Sequence[str] = ()) -> int:
        """How many shards a run of this index needs: one per quota-limited registry, one per
        IMAGES_PER_SHARD of the other images, at least 1 and at most MAX_SHARDS."""
        others = sum(registry_of(e) not in quota_registries for e in self.current())
        return max(1, min(MAX_SHARDS, len(quota_registries) + math.ceil(others / IMAGES_PER_SHARD)))

    def record_update_shares(self, count: int, quota_registries: Sequence[str] = (),
                             budget: int = RECORD_UPDATES_PER_RUN) -> list[int]:
        """Each shard's part of the run's record-update budget, in proportion to its images (to
        within one): the budget's units are spread evenly over the current entries laid out
        shard after shard, from a start the index's `generated_at` picks, and a shard gets the
        units that land on its own. Every shard of the run reads the same index, so the parts
        add up to `budget` exactly; each run starts elsewhere, so when there are more shards
        than units a small shard is not left out run after run."""
        sizes = Counter(shard_for(entry, count, quota_registries) for entry in self.current())
        ends = list(itertools.accumulate(sizes[shard] for shard in range(count)))
        shares = [0] * count
        total = ends[-1]
        if not total:
            return shares
        start = int.from_bytes(hashlib.sha256(self.generated_at.encode()).digest()[:8], "big")
        for unit in range(budget):
            shares[bisect.bisect_right(ends, (start + unit * total // budget) % total)] += 1
        return shares

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "images": [e.to_json() for e in self.sorted_entries()],
            "queue": [asdict(q) for q in self.queue],
            "last_resync": self.last_resync,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Index:
        index = cls(generated_at=str(data.get("generated_at", "")),
                    last_resync=data.get("last_resync"))
        for item in data.get("images", []):
            index.add(IndexEntry.from_json(item))
        index.queue = [QueueEntry(**q) for q in data.get("queue", [])]
        return index


def _entries(value: object) -> int | None:
    """An index entry's recorded index entries (what its next cold copy reads), if valid."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def registry_of(entry: IndexEntry) -> str:
    return split_domain(entry.source)[0]


def shard_for(entry: IndexEntry, count: int, quota_registries: Sequence[str] = ()) -> int:
    """The k-th quota-limited registry's images all go to shard k (modulo `count`); the rest
    spread by target over the shards after those (over all of them when none are left)."""
    registry = registry_of(entry)
    if registry in quota_registries:
        return list(quota_registries).index(registry) % count
    reserved = len(quota_registries)
    if count > reserved:
        return reserved + shard_of(entry.target, count - reserved)
    return shard_of(entry.target, count)


def shard_of(key: str, count: int) -> int:
    """Stable across runs and machines (unlike hash()), so matrix jobs agree on the split."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 0 <= I < N."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError as error:
        raise ConfigError(f"--shard takes I/N, e.g. 0/4, not {text!r}") from error
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text}: need 0 <= I < N")
    return index, count


def entries_from_record(record: ResultRecord, checks: Iterable[ImageCheck], issue_url: str = "",
                        comment_id: int | None = None) -> list[IndexEntry]:
    """Index entries for a mirrored record's images that are trusted or stale (not rejected)."""
    if record.outcome != Outcome.MIRRORED:
        return []
    return [
        IndexEntry(
            replace(check.image, first_sync=check.image.first_sync or record.at),
            last_sync=record.at, issue=record.issue, issue_url=issue_url, comment_id=comment_id,
            stale=check.reason if check.standing == Standing.STALE else "",
        )
        for check in checks if check.standing != Standing.REJECTED
    ]
