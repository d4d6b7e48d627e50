"""What a format module finds in a file, and how a rewrite is spliced into the original text.

Rule: a finder never re-renders a file. It reports, for each image reference it can rewrite,
the exact character spans of the text that names it (and what each span holds: a whole
reference, a `registry/repository` name, a registry host or a repository path), so the rewrite
replaces only those characters and comments, quoting, key order and indentation stay byte for
byte. Every reference it cannot rewrite exactly (a variable, a tag or registry the chart
supplies, a scalar it cannot splice) is reported as `Left` with the reason, never dropped.
A reference marked `# mirror-bot: ignore` carries `marked`: it is never rewritten, and never
fails `--check`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from bot.errors import MirrorBotError
from bot.image.reference import Reference

IGNORE_MARK = "# mirror-bot: ignore"
IGNORE_RE = re.compile(r"(?:^|\s)#[ \t]*mirror-bot:[ \t]*ignore(?:\s|$)")


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
        so (it means `:latest`)."""
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
    marked: bool = False  # `# mirror-bot: ignore`: left as written


@dataclass(frozen=True)
class Left:
    """An image reference that cannot be rewritten exactly, and why: it stays upstream."""

    text: str  # the reference as far as the file tells it, e.g. `golang:${GOLANG_VERSION}`
    line: int
    reason: str
    marked: bool = False


@dataclass(frozen=True)
class Scan:
    found: tuple[Found, ...] = ()
    left: tuple[Left, ...] = ()


def scan_of(results: Iterable[Found | Left]) -> Scan:
    """Results in the order they appear in the file."""
    ordered = sorted(results, key=lambda result: result.line)
    return Scan(tuple(r for r in ordered if isinstance(r, Found)),
                tuple(r for r in ordered if isinstance(r, Left)))


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def is_marked(line: str) -> bool:
    """The line carries the `# mirror-bot: ignore` comment."""
    return "mirror-bot" in line and IGNORE_RE.search(line) is not None


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
