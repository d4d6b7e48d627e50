"""The bot's records: the machine-readable result marker at the end of its one comment per issue.

Rule: a record is a single line `<!-- mirror-bot:result {json} -->` that ends a comment which
begins with the comment marker; the forge has already checked that the bot's own login wrote
that comment. Reading is strict: the marker must be the comment's last line, its JSON must have
exactly the expected fields and types, and anything else is a `RecordError` naming what is wrong
(never a crash, never a partial record). Writing escapes `--` and `>` so the JSON can never end
the HTML comment early. Whether a well-formed record still describes what today's allowlist and
naming would mirror is decided by `bot.records.trust`, not here. A request the source's pull
quota stopped has the outcome `deferred` and the time it resumes (`resume_after`); its
`attempts` are not counted up (waiting is not failing). Each image may carry the index entries
its copy read (`entries`), from which the next cold copy knows the pulls it needs, and what
travels with it: one digest of the top digest's referrer set (`referrers`, which the no-op
check compares; never the descriptors), `referrers_incomplete` when some could not be copied
(resync tries again), and `signed` when a signature came along (the status page marks it).

A record renders to at most MAX_RECORD_LENGTH characters (ASCII: JSON escapes the rest), so the
comment that ends with it stays under GitHub's 65,536 with room for a line and a link. What an
image serves (`served`) is for readers only: a record that would be longer loses it, from its
last images first, until it fits. Everything else must fit as it is: `longest` tells, before a
request copies anything, the longest its record can become (each digest, time and count at its
longest, the referrer fields too), so a request that could not be recorded is refused before
it starts (bot/flows/conclude.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar

from bot import timestamps
from bot.errors import MirrorBotError
from bot.image.grammar import SHA256_DIGEST_RE
from bot.image.platform import InvalidPlatform, Platform
from bot.policy.settings import MAX_REQUEST_IMAGES

COMMENT_MARKER = "<!-- mirror-bot:comment -->"
RESULT_PREFIX = "<!-- mirror-bot:result "
RESULT_SUFFIX = " -->"
MAX_IMAGES = MAX_REQUEST_IMAGES  # a record holds what one request may name, no more
MAX_ADDRESSES = 16  # further addresses of one image: mirrors x Docker Hub forms
# Platforms one image serves, as recorded: more than real images carry (about ten), few enough
# that a hundred images keep a comment far below GitHub's 65,536 characters.
MAX_SERVED = 32
MAX_PLATFORM_TEXT = 32
MAX_ENTRIES = 1000  # an index's entries, as recorded: far above any real image's (tens)
# Characters of the rendered marker line; a 100-image record with 4 platforms and 2 further
# addresses each renders to about 42,000.
MAX_RECORD_LENGTH = 48 * 1024
LONGEST_DIGEST = "sha256:" + "f" * 64
LONGEST_TIME = "9999-12-31T23:59:59Z"
LONGEST_ISSUE = 999_999_999
E = TypeVar("E", bound=StrEnum)


class RecordError(MirrorBotError):
    """A marker that is not a well-formed record of ours."""


class RecordTooLong(RecordError):
    """A record that cannot be written within MAX_RECORD_LENGTH (see `longest`)."""


class Phase(StrEnum):
    SYNCING = "syncing"
    RESULT = "result"


class Outcome(StrEnum):
    MIRRORED = "mirrored"
    DENIED = "denied"
    INVALID = "invalid"
    FAILED = "failed"
    GAVE_UP = "gave_up"
    DEFERRED = "deferred"  # the source's pull quota: it resumes after `resume_after`


@dataclass(frozen=True)
class RecordedImage:
    """One mirrored image: where it came from, where it is, and the digest verified there.

    `platforms` is what was asked for (empty: every platform), which resync asks for again;
    `served` is what the mirrored digest serves, as the copy saw it (an index's platforms),
    for readers; empty when the copy did not see them (a single-platform image, one already
    current when asked for). `served` is written only when every platform is one a reader of
    the record accepts (`servable`), so a hostile upstream index cannot make a record unreadable.
    """

    source: str
    target: str  # the primary mirror's canonical address
    digest: str
    platforms: tuple[str, ...] = ()
    first_sync: str = ""
    also: tuple[str, ...] = ()  # further addresses verified to serve it (short form, mirrors)
    served: tuple[str, ...] = ()
    entries: int | None = None  # the index entries the copy read (0: one manifest, no index)
    referrers: str | None = None  # the top digest's referrer set, as one digest
    referrers_incomplete: bool = False
    signed: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, "target": self.target,
                                "digest": self.digest, "platforms": list(self.platforms),
                                "first_sync": self.first_sync}
        if self.also:
            data["also"] = list(self.also)
        if self.served and servable(self.served):
            data["served"] = list(self.served)
        if self.entries is not None:
            data["entries"] = self.entries
        if self.referrers is not None:
            data["referrers"] = self.referrers
        if self.referrers_incomplete:
            data["referrers_incomplete"] = True
        if self.signed:
            data["signed"] = True
        return data

    def keeping_served(self, before: RecordedImage | None) -> RecordedImage:
        """This image, with what `before` recorded of the same digest at the same address when
        this copy did not see it (it was already current): the platforms served, and the index
        entries read (those of any earlier digest too: the best guess of what a copy reads)."""
        if before is None or before.target != self.target:
            return self
        kept = self
        if kept.entries is None and before.entries is not None:
            kept = replace(kept, entries=before.entries)
        if not kept.signed and before.signed and before.digest == self.digest \
                and kept.referrers == before.referrers:
            kept = replace(kept, signed=True)  # the same set: signed as it was
        if kept.served or before.digest != self.digest:
            return kept
        return replace(kept, served=before.served)

    @classmethod
    def from_json(cls, data: object) -> RecordedImage:
        fields = _object(data, "an image", required={"source", "target", "digest"},
                         optional={"platforms", "first_sync", "also", "served", "entries",
                                   "referrers", "referrers_incomplete", "signed"})
        digest = _string(fields, "digest")
        if not SHA256_DIGEST_RE.match(digest):
            raise RecordError(f"image digest {digest[:80]!r} is not sha256:<64 hex>")
        platforms = fields.get("platforms", [])
        if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
            raise RecordError("image platforms must be a list of strings")
        first_sync = fields.get("first_sync", "")
        if first_sync and timestamps.parse(first_sync) is None:
            raise RecordError("image first_sync is not a timestamp")
        also = fields.get("also", [])
        if not isinstance(also, list) or len(also) > MAX_ADDRESSES or not all(
                isinstance(a, str) and 0 < len(a) <= 512 for a in also):
            raise RecordError(f"image also must be a list of at most {MAX_ADDRESSES} addresses")
        served = fields.get("served", [])
        if not isinstance(served, list) or not servable(served):
            raise RecordError(f"image served must be a list of at most {MAX_SERVED} platforms, "
                              "each written os/arch[/variant] once")
        entries = fields.get("entries")
        if entries is not None and (not _whole(entries) or not 0 <= entries <= MAX_ENTRIES):
            raise RecordError(f"image entries must be a whole number from 0 to {MAX_ENTRIES}")
        referrers = fields.get("referrers")
        if referrers is not None and not (isinstance(referrers, str)
                                          and SHA256_DIGEST_RE.match(referrers)):
            raise RecordError("image referrers must be sha256:<64 hex>")
        flags = {key: fields.get(key, False) for key in ("referrers_incomplete", "signed")}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise RecordError(f"image {key} must be true or false")
        return cls(_string(fields, "source"), _string(fields, "target"), digest,
                   tuple(platforms), str(first_sync or ""), tuple(also), tuple(served), entries,
                   referrers, flags["referrers_incomplete"], flags["signed"])


def servable(platforms: Sequence[object]) -> bool:
    """Whether `platforms` may be recorded as what an image serves: at most MAX_SERVED, each
    once and written as `Platform.parse` writes it (`linux/arm64`, never `aarch64`)."""
    if len(platforms) > MAX_SERVED or len(set(map(str, platforms))) != len(platforms):
        return False
    for text in platforms:
        if not isinstance(text, str) or len(text) > MAX_PLATFORM_TEXT:
            return False
        try:
            if str(Platform.parse(text)) != text:
                return False
        except InvalidPlatform:
            return False
    return True


@dataclass(frozen=True)
class ResultRecord:
    """What the bot last did on one issue."""

    issue: int
    phase: Phase
    at: str
    outcome: Outcome | None = None
    attempts: int = 0
    run: str = ""
    images: tuple[RecordedImage, ...] = field(default=())
    resume_after: str = ""  # deferred: when the source's quota lets the sweep take it up

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"issue": self.issue, "phase": str(self.phase), "at": self.at,
                                "attempts": self.attempts,
                                "images": [image.to_json() for image in self.images]}
        if self.outcome is not None:
            data["outcome"] = str(self.outcome)
        if self.run:
            data["run"] = self.run
        if self.resume_after:
            data["resume_after"] = self.resume_after
        return data

    def render(self) -> str:
        """The marker line. `--` and `>` are escaped, so no value can close the HTML comment.
        Longer than MAX_RECORD_LENGTH, it leaves out what images serve, the last images' first;
        RecordTooLong when even that is not enough (`longest` refuses such a request first)."""
        line = self._line()
        images = list(self.images)
        for at in reversed(range(len(images))):
            if len(line) <= MAX_RECORD_LENGTH:
                break
            if images[at].served:
                images[at] = replace(images[at], served=())
                line = replace(self, images=tuple(images))._line()
        if len(line) > MAX_RECORD_LENGTH:
            raise RecordTooLong(f"the record of issue #{self.issue} renders to {len(line)} "
                                f"characters, more than {MAX_RECORD_LENGTH}")
        return line

    def _line(self) -> str:
        payload = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        payload = payload.replace(">", "\\u003e").replace("--", "-\\u002d")
        return f"{RESULT_PREFIX}{payload}{RESULT_SUFFIX}"

    def with_images(self, images: tuple[RecordedImage, ...], at: str) -> ResultRecord:
        return replace(self, images=images, at=at)

    @classmethod
    def from_json(cls, data: object) -> ResultRecord:
        fields = _object(data, "the record", required={"issue", "phase", "at"},
                         optional={"outcome", "attempts", "run", "images", "resume_after"})
        issue, attempts = fields["issue"], fields.get("attempts", 0)
        if not _whole(issue) or issue < 1:
            raise RecordError("record issue must be a positive whole number")
        if not _whole(attempts) or not 0 <= attempts <= 1000:
            raise RecordError("record attempts must be a whole number from 0 to 1000")
        at = _string(fields, "at")
        if timestamps.parse(at) is None:
            raise RecordError(f"record time {at[:40]!r} is not a timestamp")
        images = fields.get("images", [])
        if not isinstance(images, list) or len(images) > MAX_IMAGES:
            raise RecordError(f"record images must be a list of at most {MAX_IMAGES}")
        resume_after = fields.get("resume_after", "")
        if resume_after != "" and timestamps.parse(resume_after) is None:
            raise RecordError(f"record resume_after {str(resume_after)[:40]!r} is not a timestamp")
        return cls(issue=issue, phase=_enum(Phase, fields["phase"], "phase"), at=at,
                   outcome=_enum(Outcome, fields["outcome"], "outcome")
                   if fields.get("outcome") is not None else None,
                   attempts=attempts, run=str(fields.get("run") or "")[:64],
                   images=tuple(RecordedImage.from_json(image) for image in images),
                   resume_after=str(resume_after))


def longest(images: Sequence[RecordedImage]) -> int:
    """The longest a record of `images` can render to once they are copied, whatever the run
    finds: each digest, first sync time and entry count at its longest, the referrer fields
    (`referrers`, `referrers_incomplete`, `signed`) as if every image had them, every field of
    the record itself too (a syncing record's run, a deferred one's time); what they serve is not
    counted, as `render` leaves it out rather than pass the bound. `images` are as planned:
    source, target, platforms asked for and further addresses."""
    widest = tuple(replace(image, digest=LONGEST_DIGEST, first_sync=LONGEST_TIME, served=(),
                           entries=MAX_ENTRIES, referrers=LONGEST_DIGEST,
                           referrers_incomplete=True, signed=True) for image in images)
    record = ResultRecord(issue=LONGEST_ISSUE, phase=Phase.SYNCING, at=LONGEST_TIME,
                          outcome=Outcome.DEFERRED, attempts=1000, run="f" * 64, images=widest,
                          resume_after=LONGEST_TIME)
    return len(record._line())


def read(body: str) -> ResultRecord | None:
    """The record that ends a bot comment, None when the comment carries none.

    Raises RecordError when the last line is a marker but not a well-formed record.
    """
    lines = (body or "").rstrip().splitlines()
    if not lines or not lines[0].startswith(COMMENT_MARKER):
        raise RecordError("the comment does not start with the bot's comment marker")
    last = lines[-1].strip()
    if not last.startswith(RESULT_PREFIX):
        return None
    if not last.endswith(RESULT_SUFFIX):
        raise RecordError("the result marker is not closed on its line")
    try:
        data = json.loads(last[len(RESULT_PREFIX) : -len(RESULT_SUFFIX)])
    except ValueError as error:
        raise RecordError(f"the result marker is not JSON: {error}") from error
    return ResultRecord.from_json(data)


def read_or_none(body: str) -> ResultRecord | None:
    """Like `read`, but a malformed record counts as none (for callers that only need to know
    whether the bot finished something; those that list records report the error instead)."""
    try:
        return read(body)
    except RecordError:
        return None


def replace_record(body: str, record: ResultRecord) -> str:
    """The comment with its last line (the record) replaced, or the record appended."""
    lines = (body or "").rstrip().splitlines()
    if lines and lines[-1].strip().startswith(RESULT_PREFIX):
        lines = lines[:-1]
    return "\n".join([*lines, record.render()]) + "\n"


def _object(data: object, what: str, *, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RecordError(f"{what} must be a JSON object")
    missing = sorted(required - data.keys())
    unknown = sorted(data.keys() - required - optional)
    if missing:
        raise RecordError(f"{what} lacks {', '.join(missing)}")
    if unknown:
        raise RecordError(f"{what} has unknown fields {', '.join(map(str, unknown))[:80]}")
    return data


def _string(fields: dict[str, Any], key: str) -> str:
    value = fields[key]
    if not isinstance(value, str) or not value or len(value) > 512:
        raise RecordError(f"{key} must be a non-empty string of at most 512 characters")
    return value


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _enum(kind: type[E], value: object, name: str) -> E:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError as error:
        raise RecordError(f"record {name} {str(value)[:40]!r} is not one of "
                          f"{', '.join(kind)}") from error
