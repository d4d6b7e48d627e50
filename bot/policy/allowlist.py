"""Allowlist patterns and the decision for one reference.

Rule: a reference is allowed when an `allow` pattern matches it and no `deny` pattern does
(deny wins). Patterns are `REGISTRY/PATH[:TAGGLOB]` written normalised; in PATH `*` is exactly
one component and `**` one or more. A deny pattern's tag glob ignores case (`*-rc*` denies
`2.0-RC2`: a deny rule errs towards denying), an allow pattern's does not (tags are
case-sensitive), and one pattern covers another by the same rule. A request by digest alone is
denied by any deny pattern on its repository, whatever that pattern's tag glob: a digest could
be any tag's. Every decision names the rule (file:line) that made it; when several match, the
first in the file decides. Matching one reference costs the same with 10 or 100,000 patterns
(see `PatternIndex`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path

from bot.image import reference
from bot.image.grammar import MAX_TAG_LENGTH, PATH_COMPONENT, TAG_GLOB_RE
from bot.image.platform import Platform
from bot.image.reference import Reference
from bot.messages import Message, message
from bot.policy.settings import Settings

WILDCARDS = frozenset({"*", "**"})
GLOB_CHARACTERS = frozenset("*?[")
# An already normalised pattern, checked in one match; anything else takes the slow path below,
# which also says what is wrong.
_COMPONENT = rf"(?:{PATH_COMPONENT}|\*\*?)"
MAX_PATTERN_LENGTH = reference.MAX_REPOSITORY_LENGTH + 1 + MAX_TAG_LENGTH
NORMALISED_RE = re.compile(
    rf"(?P<registry>[a-z0-9.:-]+)/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>[^/:]+))?\Z",
    re.ASCII)


@dataclass(frozen=True)
class Pattern:
    """One allow or deny entry."""

    text: str
    registry: str
    path: tuple[str, ...]
    tag_glob: str | None = None
    line: int | None = None
    source: str = "allowlist.yaml"
    ignore_case: bool = False  # in the tag glob: a deny pattern's (see the module's rule)

    @property
    def where(self) -> str:
        name = Path(self.source).name
        return f"{name}:{self.line}" if self.line else name

    @property
    def literal_repository(self) -> str | None:
        """`registry/path` when the pattern names exactly one repository."""
        if WILDCARDS.intersection(self.path):
            return None
        return f"{self.registry}/{'/'.join(self.path)}"

    @property
    def exact_tag(self) -> str | None:
        """The tag glob when it names one tag (no wildcard in it)."""
        if self.tag_glob is None or GLOB_CHARACTERS.intersection(self.tag_glob):
            return None
        return self.tag_glob

    @cached_property
    def _path_regex(self) -> re.Pattern[str]:
        pieces = []
        for part in self.path:
            if part == "**":
                pieces.append(r"[^/]+(?:/[^/]+)*")
            elif part == "*":
                pieces.append(r"[^/]+")
            else:
                pieces.append(re.escape(part))
        return re.compile("/".join(pieces) + r"\Z")

    def matches_repository(self, ref: Reference) -> bool:
        """Matches the registry and path, whatever the tag."""
        return ref.registry == self.registry and bool(self._path_regex.match(ref.repository))

    def folded(self, tag: str) -> str:
        """`tag` as this pattern's tag glob compares it."""
        return tag.lower() if self.ignore_case else tag

    def matches_tag(self, tag: str | None) -> bool:
        if self.tag_glob is None:
            return True
        return tag is not None and fnmatchcase(self.folded(tag), self.folded(self.tag_glob))

    def matches(self, ref: Reference) -> bool:
        return self.matches_repository(ref) and self.matches_tag(ref.tag)

    def covers(self, other: Pattern) -> bool:
        """True when every reference `other` matches is matched by this pattern too."""
        if self.registry != other.registry or not _path_covers(self.path, other.path):
            return False
        if self.tag_glob is None:
            return True
        if other.tag_glob is None or (other.ignore_case and not self.ignore_case):
            return False
        return fnmatchcase(self.folded(other.tag_glob), self.folded(self.tag_glob))


def _path_covers(wide: tuple[str, ...], narrow: tuple[str, ...]) -> bool:
    if not wide:
        return not narrow
    head, rest = wide[0], wide[1:]
    if head == "**":
        return any(_path_covers(rest, narrow[n:]) for n in range(1, len(narrow) + 1))
    if not narrow or narrow[0] == "**":
        return False
    if head == "*" or head == narrow[0]:
        return _path_covers(rest, narrow[1:])
    return False


def normalise_pattern(text: str) -> tuple[str, str, tuple[str, ...], str | None]:
    """Split and normalise a pattern; return (normalised text, registry, path, tag glob).

    A pattern can be no longer than what it matches: a repository name of at most 255
    characters (registry included) and a tag of at most 128."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the pattern is {len(text):,} characters long; a repository name has "
                         f"at most {reference.MAX_REPOSITORY_LENGTH} and a tag at most {MAX_TAG_LENGTH}")
    fast = NORMALISED_RE.match(text)
    if fast and _is_normalised(fast):
        return _bounded(text, fast["registry"], tuple(fast["path"].split("/")), fast["tag"])
    if not text or any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ValueError("a pattern cannot be empty or contain whitespace")
    body, tag_glob = text, None
    last_slash, colon = text.rfind("/"), text.rfind(":")
    if colon > last_slash:
        body, tag_glob = text[:colon], text[colon + 1 :]
        if len(tag_glob) <= MAX_TAG_LENGTH and not TAG_GLOB_RE.match(tag_glob):
            raise ValueError(f"'{tag_glob}' is not a tag glob (tag characters plus * ? [ ])")
    first = body.partition("/")[0]
    registry, rest = reference.split_domain(body)
    if rest != body and not reference.is_valid_domain(first):
        raise ValueError(f"'{first}' is not a valid registry host")
    path = tuple(rest.split("/"))
    if any(not part for part in path):
        raise ValueError("the path is empty or has an empty component ('//')")
    for part in path:
        if part not in WILDCARDS and not reference.is_valid_path_component(part):
            hint = " (repository names are lowercase)" if part != part.lower() else ""
            raise ValueError(f"'{part}' is not a valid path component{hint}")
    if registry == reference.DEFAULT_REGISTRY and len(path) == 1 and path[0] != "**":
        path = (reference.OFFICIAL_NAMESPACE, *path)
    normalised = f"{registry}/{'/'.join(path)}" + (f":{tag_glob}" if tag_glob else "")
    return _bounded(normalised, registry, path, tag_glob)


def _bounded(normalised: str, registry: str, path: tuple[str, ...],
             tag_glob: str | None) -> tuple[str, str, tuple[str, ...], str | None]:
    name_length = len(registry) + 1 + len("/".join(path))
    if name_length > reference.MAX_REPOSITORY_LENGTH:
        raise ValueError(f"the repository part is {name_length} characters long; a repository "
                         f"name has at most {reference.MAX_REPOSITORY_LENGTH}, so it matches nothing")
    if tag_glob is not None and len(tag_glob) > MAX_TAG_LENGTH:
        raise ValueError(f"the tag glob is {len(tag_glob)} characters long; a tag has at most "
                         f"{MAX_TAG_LENGTH}, so it matches nothing")
    return normalised, registry, path, tag_glob


def _is_normalised(match: re.Match[str]) -> bool:
    registry, path, tag = match["registry"], match["path"], match["tag"]
    if not reference.looks_like_domain(registry) or registry in reference.DOCKER_HUB_ALIASES:
        return False
    if not reference.is_valid_domain(registry) or (tag is not None and not TAG_GLOB_RE.match(tag)):
        return False
    return registry != reference.DEFAULT_REGISTRY or "/" in path or path == "**"


class PatternIndex:
    """Patterns found by what they fix, so a look-up never scans the whole list.

    A pattern is filed under its registry, the literal components before its first wildcard,
    and its length (None when it has `**`); within that bucket, patterns naming one exact tag
    are filed by tag. A reference with n components looks in at most 2n + 1 buckets.
    """

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self._buckets: dict[tuple[str, str, int | None], _Bucket] = {}
        for order, pattern in enumerate(patterns):
            fixed = _fixed_prefix(pattern.path)
            length = None if "**" in pattern.path else len(pattern.path)
            key = (pattern.registry, "/".join(pattern.path[:fixed]), length)
            self._buckets.setdefault(key, _Bucket()).add(order, pattern)

    def _keys(self, registry: str, path: tuple[str, ...], fixed: int,
              variable_length: bool) -> Iterator[tuple[str, str, int | None]]:
        """Buckets whose patterns could match (or cover) a path with `fixed` literal components."""
        if not variable_length and fixed == len(path):
            yield registry, "/".join(path), len(path)
        prefix = ""
        for k in range(min(fixed + 1, len(path))):
            if not variable_length:
                yield registry, prefix, len(path)
            yield registry, prefix, None
            prefix = f"{prefix}/{path[k]}" if k else path[k]

    def matching(self, ref: Reference, *, any_tag: bool = False) -> list[Pattern]:
        """Every pattern matching `ref` (its repository only, when `any_tag`), in file order."""
        path = tuple(ref.repository.split("/"))
        found: list[tuple[int, Pattern]] = []
        for key in self._keys(ref.registry, path, len(path), variable_length=False):
            bucket = self._buckets.get(key)
            if bucket is not None:
                candidates = bucket.all() if any_tag else bucket.for_tag(ref.tag)
                found.extend(c for c in candidates if c[1].matches_repository(ref)
                             and (any_tag or c[1].matches_tag(ref.tag)))
        return [pattern for _, pattern in sorted(found, key=lambda c: c[0])]

    def first(self, ref: Reference, *, any_tag: bool = False) -> Pattern | None:
        matching = self.matching(ref, any_tag=any_tag)
        return matching[0] if matching else None

    def covering(self, pattern: Pattern) -> Iterator[tuple[int, Pattern]]:
        """(file position, pattern) of every indexed pattern that covers `pattern`."""
        fixed = _fixed_prefix(pattern.path)
        keys = self._keys(pattern.registry, pattern.path, fixed, variable_length="**" in pattern.path)
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is not None:
                candidates = bucket.for_tag(pattern.exact_tag) if pattern.exact_tag else bucket.globs
                yield from (c for c in candidates if c[1].covers(pattern))


def _fixed_prefix(path: tuple[str, ...]) -> int:
    return next((i for i, part in enumerate(path) if part in WILDCARDS), len(path))


@dataclass
class _Bucket:
    by_tag: dict[str, list[tuple[int, Pattern]]] = field(default_factory=dict)
    globs: list[tuple[int, Pattern]] = field(default_factory=list)  # no tag glob, or a wildcard one

    def add(self, order: int, pattern: Pattern) -> None:
        tag = pattern.exact_tag  # filed as the pattern compares it: lowercase when it ignores case
        (self.by_tag.setdefault(pattern.folded(tag), []) if tag else self.globs).append(
            (order, pattern))

    def for_tag(self, tag: str | None) -> list[tuple[int, Pattern]]:
        exact = [] if tag is None else [*self.by_tag.get(tag, []), *(
            self.by_tag.get(tag.lower(), []) if tag.lower() != tag else [])]
        return [*exact, *self.globs] if exact else self.globs

    def all(self) -> list[tuple[int, Pattern]]:
        return [*self.globs, *(entry for entries in self.by_tag.values() for entry in entries)]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Message
    rule: Pattern | None = None


@dataclass(frozen=True)
class Allowlist:
    allow: tuple[Pattern, ...] = ()
    deny: tuple[Pattern, ...] = ()
    settings: Settings = field(default_factory=Settings)
    source: str = "allowlist.yaml"

    @cached_property
    def allow_index(self) -> PatternIndex:
        return PatternIndex(self.allow)

    @cached_property
    def registries(self) -> frozenset[str]:
        """The registries an allow rule names: a host one letter from a well-known one is
        read as written when the allowlist names it (a private registry), not as a typo."""
        return frozenset(pattern.registry for pattern in self.allow)

    @cached_property
    def deny_index(self) -> PatternIndex:
        return PatternIndex(self.deny)

    def decide(self, ref: Reference) -> Decision:
        by_digest_alone = ref.tag is None and ref.digest is not None
        rule = self.deny_index.first(ref, any_tag=by_digest_alone)
        if rule is not None:
            if rule.tag_glob is not None and not rule.matches_tag(ref.tag):
                return Decision(False, message(
                    "denied by rule '%(rule)s' (%(where)s): a request by digest alone could be any "
                    "tag of %(name)s, and this rule denies some of its tags; ask for it by tag",
                    rule=rule.text, where=rule.where, name=ref.name), rule)
            return Decision(False, _denied(rule), rule)
        rule = self.allow_index.first(ref)
        if rule is not None:
            return Decision(True, message("allowed by rule '%(rule)s' (%(where)s)", rule=rule.text,
                                          where=rule.where), rule)
        tag_rules = [r for r in self.allow_index.matching(ref, any_tag=True) if r.tag_glob]
        if tag_rules:
            globs = ", ".join(f"'{r.tag_glob}'" for r in tag_rules[:5])
            return Decision(False, message(
                "%(name)s is allowlisted only for tags matching %(globs)s (%(where)s)",
                name=ref.name, globs=globs, where=tag_rules[0].where), tag_rules[0])
        return Decision(False, message("%(name)s is not in %(file)s", name=ref.name,
                                       file=Path(self.source).name))

    def decide_repository(self, repository: Reference) -> Decision:
        """A repository whatever the tag (a tag pattern, before expansion): denied by a deny rule
        without a tag glob, allowed by any allow rule for it (its tag glob applies per tag)."""
        deny = [r for r in self.deny_index.matching(repository, any_tag=True) if r.tag_glob is None]
        if deny:
            return Decision(False, _denied(deny[0]), deny[0])
        allow = self.allow_index.first(repository, any_tag=True)
        if allow is not None and allow.tag_glob:
            return Decision(True, message(
                "allowed by rule '%(rule)s' (%(where)s); each tag must match '%(glob)s'",
                rule=allow.text, where=allow.where, glob=allow.tag_glob), allow)
        if allow is not None:
            return Decision(True, message("allowed by rule '%(rule)s' (%(where)s)", rule=allow.text,
                                          where=allow.where), allow)
        return self.decide(repository)

    @cached_property
    def known_repositories(self) -> tuple[str, ...]:
        """The repositories allow rules name literally (no wildcard), once per allowlist."""
        return tuple(dict.fromkeys(r for r in (p.literal_repository for p in self.allow) if r))

    @cached_property
    def wildcard_allows(self) -> tuple[Pattern, ...]:
        return tuple(p for p in self.allow if p.literal_repository is None)

    def platform_allowed(self, platform: Platform) -> bool:
        return self.settings.platforms is None or platform in self.settings.platforms


def _denied(rule: Pattern) -> Message:
    return message("denied by rule '%(rule)s' (%(where)s)", rule=rule.text, where=rule.where)
