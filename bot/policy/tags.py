"""Choosing tags from an upstream tag list: subscription rules and tag patterns (pure).

Rule: a version tag is `[v]MAJOR.MINOR[.PATCH][-SUFFIX]` (`1.27.3`, `v2.4.0`, `17.2`,
`1.27.3-alpine`); numbers compare as numbers and a two-part tag is MAJOR.MINOR.0 (`24.04` is
24.4.0). A suffix whose first word is a pre-release word (`rc1`, `beta.2`, `alpha`, …) makes a
pre-release; any other suffix (`alpine`, `bookworm`, `perl`) names a variant of that version.
Other tags (`1`, `latest`, `mainline`, `18beta1`, `1.2.3.4`) are not versions: `semver` and
`latest` never choose them. Subscription rules all hold together:
- `semver`: an npm range (`>=1.26.0 <1.28.0`, `~1.27`, `^2`, `1.x || 2.x`); pre-releases only
  when the range itself names a pre-release of the same MAJOR.MINOR.PATCH (npm's rule);
- `match` (glob with `*`, `?`, `[…]`) or `regex` (the whole tag): which tags count. Without
  either, `semver` and `latest` consider plain version tags only, no variants; `match: "*-alpine"`
  is how a subscription chooses the alpine variants;
- `latest: N`: the N highest versions left (pre-releases only if `semver` admitted them);
- `include`: these tags as well, whatever the other rules say.
A tag pattern in a request has only `*` and `?`, and may match at most `cap` tags.
Tags are listed newest version first, then the others in text order. Tags that hold what is
about an image (`sha256-<hex>`, a referrers index; `sha256-<hex>.sig`/`.att`/`.sbom`, cosign's)
are never selected, by any rule or pattern, nor named in `include`: they travel with the image
they are about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property
from typing import TYPE_CHECKING

from bot.errors import MirrorBotError
from bot.image.grammar import TAG_GLOB_RE, TAG_PATTERN_RE, TAG_RE
from bot.image.referrers import is_artifact_tag
from bot.messages import Message, message

if TYPE_CHECKING:
    from semantic_version import NpmSpec

VERSION_RE = re.compile(
    r"v?(?P<major>[0-9]{1,9})\.(?P<minor>[0-9]{1,9})(?:\.(?P<patch>[0-9]{1,9}))?(?:-(?P<suffix>[\w.-]+))?\Z",
    re.ASCII)
PRERELEASE_WORD_RE = re.compile(
    r"(?:alpha|beta|rc|pre|preview|dev|snapshot|nightly|canary|next|milestone|ea|a|b|m)(?:[._]?[0-9]+)*\Z",
    re.ASCII | re.IGNORECASE)
SEMVER_IDENTIFIER_RE = re.compile(r"[0-9A-Za-z-]+\Z", re.ASCII)
RANGE_OPERATOR_SPACE_RE = re.compile(r"(<=|>=|<|>|=|~|\^)\s+")
MAX_RANGE_LENGTH = 256
MAX_REGEX_LENGTH = 256
SHOWN_MATCHES = 5


@dataclass(frozen=True)
class VersionTag:
    """A tag read as a version."""

    tag: str
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()  # semver identifiers, e.g. ("rc", "1")
    variant: str | None = None
    parts: int = 3

    @property
    def sort_key(self) -> tuple[object, ...]:
        """semver precedence, then three parts before two, plain before variants, then text."""
        identifiers = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.prerelease)
        release = (1,) if not self.prerelease else (0, *identifiers)
        return (self.major, self.minor, self.patch, release, self.parts, self.variant is None)


def parse_version(tag: str) -> VersionTag | None:
    """The version a tag names, or None when it names none (see the module rule)."""
    match = VERSION_RE.match(tag)
    if not match:
        return None
    numbers = int(match["major"]), int(match["minor"]), int(match["patch"] or 0)
    parts = 3 if match["patch"] is not None else 2
    suffix = match["suffix"]
    if suffix is None:
        return VersionTag(tag, *numbers, parts=parts)
    first_word = suffix.split("-", 1)[0]
    if not PRERELEASE_WORD_RE.match(first_word):
        return VersionTag(tag, *numbers, variant=suffix, parts=parts)
    prerelease, _, variant = suffix.partition("-")
    identifiers = tuple(re.split(r"[._]", prerelease))
    if not all(SEMVER_IDENTIFIER_RE.match(i) for i in identifiers):
        return None
    return VersionTag(tag, *numbers, prerelease=identifiers, variant=variant or None, parts=parts)


def order_tags(tags: Iterable[str]) -> list[str]:
    """Newest version first, then the tags that are not versions in text order."""
    versions, others = [], []
    for tag in tags:
        version = parse_version(tag)
        (versions.append(version) if version else others.append(tag))
    versions.sort(key=lambda v: v.tag)
    versions.sort(key=lambda v: v.sort_key, reverse=True)
    return [v.tag for v in versions] + sorted(others)


def check_range(text: str) -> str:
    """An npm range, tidied (`>= 1.2` -> `>=1.2`); ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be an npm-style range such as '>=1.26.0 <1.28.0'")
    if len(text) > MAX_RANGE_LENGTH:
        raise ValueError(f"is longer than {MAX_RANGE_LENGTH} characters")
    tidy = " ".join(RANGE_OPERATOR_SPACE_RE.sub(r"\1", text).split())
    _npm_spec(tidy)
    return tidy


def _npm_spec(text: str) -> NpmSpec:
    # Imported here: semantic_version costs ~90 ms to import, and only `follow` needs it.
    from semantic_version import NpmSpec  # noqa: PLC0415

    try:
        return NpmSpec(text)
    except ValueError as error:
        raise ValueError(f"'{text}' is not an npm-style range ({error})") from error


def check_glob(text: str) -> str:
    if not isinstance(text, str) or not TAG_GLOB_RE.match(text):
        raise ValueError(f"{text!r} is not a tag glob (tag characters with * ? [ ])")
    return text


def check_regex(text: str) -> re.Pattern[str]:
    if not isinstance(text, str) or not text or len(text) > MAX_REGEX_LENGTH:
        raise ValueError(f"must be a regular expression of at most {MAX_REGEX_LENGTH} characters")
    try:
        return re.compile(text, re.ASCII)
    except re.error as error:
        raise ValueError(f"{text!r} is not a regular expression: {error}") from error


def check_tag(text: str) -> str:
    if not isinstance(text, str) or not TAG_RE.match(text):
        raise ValueError(f"{text!r} is not a tag (letters, digits, '_', '.', '-'; at most 128)")
    if is_artifact_tag(text):
        raise ValueError(f"{text!r} holds signatures or referrers of an image, which travel with "
                         "the image's own tag; name that tag instead")
    return text


@dataclass(frozen=True)
class TagRules:
    """The `tags:` of one subscription; every rule given must hold."""

    semver: str | None = None
    match: str | None = None
    regex: str | None = None
    latest: int | None = None
    include: tuple[str, ...] = ()

    @cached_property
    def _spec(self) -> NpmSpec | None:
        return _npm_spec(check_range(self.semver)) if self.semver is not None else None

    @cached_property
    def _regex(self) -> re.Pattern[str] | None:
        return check_regex(self.regex) if self.regex is not None else None

    def admits_shape(self, tag: str) -> bool:
        if self.match is not None and not fnmatchcase(tag, self.match):
            return False
        return self._regex is None or bool(self._regex.fullmatch(tag))

    def admits_version(self, version: VersionTag) -> bool:
        if version.variant is not None and self.match is None and self.regex is None:
            return False
        if self._spec is None:
            return not version.prerelease
        from semantic_version import Version  # noqa: PLC0415  (see _npm_spec)

        return Version(major=version.major, minor=version.minor, patch=version.patch,
                       prerelease=version.prerelease or None) in self._spec


@dataclass(frozen=True)
class Selection:
    tags: tuple[str, ...]  # newest version first, then the rest in text order
    missing: tuple[str, ...] = ()  # `include` tags that upstream does not have


def select_tags(tags: Iterable[str], rules: TagRules) -> Selection:
    """The upstream tags `rules` choose."""
    upstream = [tag for tag in dict.fromkeys(tags) if not is_artifact_tag(tag)]
    chosen = [tag for tag in upstream if rules.admits_shape(tag)]
    if rules.semver is not None or rules.latest is not None:
        versions = [v for v in map(parse_version, chosen) if v and rules.admits_version(v)]
        versions.sort(key=lambda v: v.tag)
        versions.sort(key=lambda v: v.sort_key, reverse=True)
        chosen = [v.tag for v in versions[: rules.latest]]
    elif rules.match is None and rules.regex is None:
        chosen = []  # only `include` given
    present = set(upstream)
    extra = [tag for tag in rules.include if tag in present]
    missing = tuple(tag for tag in rules.include if tag not in present)
    return Selection(tuple(order_tags(dict.fromkeys([*chosen, *extra]))), missing)


class TooManyTags(MirrorBotError):
    """A tag pattern matching more tags than one request may ask for (ErrorKind.TOO_MANY_TAGS)."""

    said: Message

    def __init__(self, pattern: str, count: int, first: tuple[str, ...], cap: int) -> None:
        super().__init__(message("'%(pattern)s' matches %(count)s tags, more than the %(cap)s one "
                                 "request may ask for (first: %(first)s); narrow the pattern",
                                 pattern=pattern, count=count, cap=cap, first=", ".join(first)))
        self.pattern, self.count, self.first, self.cap = pattern, count, first, cap


def expand_pattern(glob: str, tags: Iterable[str], cap: int) -> list[str]:
    """The upstream tags a request's tag pattern (`*`, `?`) matches, newest first.

    Raises ValueError for a pattern that is not tag characters with `*` and `?`, and
    TooManyTags when more than `cap` tags match.
    """
    if not TAG_PATTERN_RE.match(glob):
        raise ValueError(f"'{glob}' is not a tag pattern (tag characters with * and ?)")
    # fnmatch's translation does not backtrack exponentially on '*a*a*a…' (a request is hostile).
    matches = order_tags(dict.fromkeys(tag for tag in tags
                                       if fnmatchcase(tag, glob) and not is_artifact_tag(tag)))
    if len(matches) > cap:
        raise TooManyTags(glob, len(matches), tuple(matches[:SHOWN_MATCHES]), cap)
    return matches
