"""What a format module finds in a file, and how a rewrite is spliced into the original text.

Rule: a finder never re-renders a file. It reports, for each image reference, the exact
character spans of the text that names it (and what each span holds: a whole reference, a
`registry/repository` name, a registry host or a repository path); the rewrite replaces only
those characters, so comments, quoting, key order and indentation stay byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from bot.errors import MirrorBotError
from bot.image.reference import Reference


class RewriteError(MirrorBotError):
    """A file that cannot be read or parsed, or a mirror that cannot be asked: nothing is changed."""


class Role(Enum):
    """What a span of text holds, and so what part of the mirrored address replaces it."""

    REFERENCE = "reference"  # `name[:tag][@digest]`, as in `image: nginx:1.27`
    NAME = "name"  # `registry/repository`, as Helm's `image.repository` without `image.registry`
    REGISTRY = "registry"  # the host, as Helm's `image.registry`
    REPOSITORY = "repository"  # the path under the host, as Helm's `image.repository`

    def render(self, target: Reference, written: str) -> str:
        """The text of `target` for this role; a reference written without tag or digest stays
        so (it means `:latest`, and some charts append their own tag to it)."""
        if self is Role.REGISTRY:
            return target.registry
        if self is Role.REPOSITORY:
            return target.repository
        if self is Role.NAME or not has_tag_or_digest(written):
            return target.name
        return str(target)


def has_tag_or_digest(text: str) -> bool:
    return "@" in text or ":" in text.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Span:
    start: int  # character offsets into the file's text, end excluded
    end: int
    role: Role


@dataclass(frozen=True)
class Found:
    """One image reference in a file: the reference it names and where its text lies."""

    text: str  # the reference assembled from the spans, e.g. `docker.io/bitnami/redis:7.2`
    line: int  # 1-based, of the first span
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Ignored:
    """Something that looks like an image reference but cannot be rewritten safely."""

    text: str
    line: int
    reason: str


@dataclass(frozen=True)
class Scan:
    found: tuple[Found, ...] = ()
    ignored: tuple[Ignored, ...] = ()


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def splice(text: str, replacements: Iterable[tuple[Span, str]]) -> str:
    """`text` with each span replaced; spans must not overlap."""
    pieces: list[str] = []
    position = 0
    for span, new in sorted(replacements, key=lambda item: item[0].start):
        if span.start < position:
            raise ValueError(f"overlapping spans at offset {span.start}")
        pieces += [text[position:span.start], new]
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)
