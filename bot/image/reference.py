"""Image reference grammar and normalisation, after distribution/reference.

Rule: a reference is `[registry/]path[:tag][@digest]`; it is normalised the way docker does
(`nginx` -> `docker.io/library/nginx:latest`) and anything outside the grammar is refused with
the precise reason (64 hex characters alone are an image ID, not a name, as distribution says).
A tag pattern (`nginx:1.27.*`) is not a reference: it is its own type, a repository that obeys
the grammar and a glob of tag characters with `*` and `?`. The patterns themselves live in
bot/image/grammar.py (ASCII-only, so look-alike characters never match); this module says why a
text does not match them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from bot.errors import InvalidReference
from bot.image.grammar import (
    DIGEST_RE,
    DOMAIN_RE,
    IMAGE_ID_RE,
    PATH_COMPONENT_RE,
    TAG_PATTERN_RE,
    TAG_RE,
)
from bot.messages import Message, message

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
OFFICIAL_NAMESPACE = "library"
DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
MAX_REPOSITORY_LENGTH = 255
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True, order=True)
class Reference:
    """A normalised image reference: registry and repository always set, tag and/or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to `digest`, without the tag."""
        return Reference(self.registry, self.repository, None, digest)

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)


@dataclass(frozen=True, order=True)
class TagPattern:
    """A repository and a glob over its tags (`*` any run, `?` one character), unexpanded."""

    registry: str
    repository: str
    glob: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return f"{self.name}:{self.glob}"

    def matches(self, tag: str) -> bool:
        return bool(TAG_RE.match(tag)) and fnmatchcase(tag, self.glob)

    def reference(self, tag: str) -> Reference:
        """The reference of one tag the pattern matched."""
        return Reference(self.registry, self.repository, tag, None)


def _refuse(text: str, reason: Message) -> InvalidReference:
    return InvalidReference(text, reason)


def _check_characters(text: str) -> None:
    if not text:
        raise _refuse(text, message("the reference is empty"))
    for char in text:
        if char.isspace():
            raise _refuse(text, message("the reference contains whitespace"))
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise _refuse(text, message("the reference contains a control character"))
        if ord(char) > 0x7E:
            raise _refuse(text, message("the reference contains the non-ASCII character %(character)s",
                                        character=f"U+{ord(char):04X}"))
    if text.startswith("-"):
        raise _refuse(text, message("a reference cannot start with '-' (options are not accepted)"))


def _check_digest(text: str, digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise _refuse(text, message("'%(digest)s' is not a digest (expected sha256:<64 hex characters>)",
                                    digest=digest))
    algorithm, hex_part = digest.split(":", 1)
    expected = DIGEST_LENGTHS.get(algorithm)
    if expected is None:
        raise _refuse(text, message("unsupported digest algorithm '%(algorithm)s' (use sha256)",
                                    algorithm=algorithm))
    if len(hex_part) != expected:
        raise _refuse(text, message("a %(algorithm)s digest has %(expected)s hex characters, this one "
                                    "has %(count)s", algorithm=algorithm, expected=expected,
                                    count=len(hex_part)))
    if hex_part != hex_part.lower():
        raise _refuse(text, message("digest hex must be lowercase"))
    return digest


def looks_like_domain(component: str) -> bool:
    """docker's rule: the first component is a registry host when it has '.' or ':' or is
    `localhost` (case-insensitively; `_split_domain` refuses upper case hosts it does not know)."""
    return "." in component or ":" in component or component.lower() == "localhost"


def split_domain(name: str) -> tuple[str, str]:
    """`[host/]path` -> (registry, path), Docker Hub's aliases folded to `docker.io`.

    The one home of the Docker Hub domain rule: references, allowlist patterns and
    registries.conf all split names here. The parts are not validated.
    """
    first, sep, rest = name.partition("/")
    if not sep or not looks_like_domain(first):
        return DEFAULT_REGISTRY, name
    domain = first.lower()
    return (DEFAULT_REGISTRY if domain in DOCKER_HUB_ALIASES else domain), rest


def _split_domain(text: str, name: str) -> tuple[str, str]:
    first, sep, _ = name.partition("/")
    if sep and not looks_like_domain(first) and first != first.lower():
        if DOMAIN_RE.match(first):
            raise _refuse(text, message("repository names must be lowercase: '%(name)s' -> "
                                        "'%(lowered)s' (a registry host contains '.' or ':')",
                                        name=first, lowered=first.lower()))
        raise _refuse(text, message("'%(host)s' is not a valid registry host", host=first))
    if sep and looks_like_domain(first) and not DOMAIN_RE.match(first):
        raise _refuse(text, message("'%(host)s' is not a valid registry host", host=first))
    return split_domain(name)


def _check_path(text: str, path: str) -> None:
    if not path:
        raise _refuse(text, message("the repository name is missing"))
    if "//" in path or path.startswith("/") or path.endswith("/"):
        raise _refuse(text, message("the repository name has an empty path component ('//' or a "
                                    "'/' at an end)"))
    for component in path.split("/"):
        if component in {".", ".."}:
            raise _refuse(text, message("'%(component)s' is not allowed as a path component",
                                        component=component))
        if component != component.lower() and PATH_COMPONENT_RE.match(component.lower()):
            raise _refuse(text, message("repository names must be lowercase: '%(name)s' -> "
                                        "'%(lowered)s'", name=component, lowered=component.lower()))
        if not PATH_COMPONENT_RE.match(component):
            raise _refuse(text, message(
                "'%(component)s' is not a valid path component (lowercase letters, digits, and "
                "single '.', '_', '__' or '-' runs between them)", component=component))


def parse_name(text: str) -> Reference:
    """A repository name written exactly as it normalises (`docker.io/library/nginx`, never
    `nginx`), without tag or digest; InvalidReference with the reason otherwise."""
    if "@" in text or ":" in text.rpartition("/")[2]:
        raise _refuse(text, message("a repository name has no tag or digest"))
    ref = parse(text)
    if ref.name != text:
        raise _refuse(text, message("not written normalised; write '%(name)s'", name=ref.name))
    return ref


def is_tag_pattern(text: str) -> bool:
    """True when the tag part of `text` (after the last ':' past the last '/') has `*` or `?`."""
    name = text.partition("@")[0]
    colon = name.rfind(":")
    return colon > name.rfind("/") and any(char in name[colon + 1 :] for char in "*?")


def parse_pattern(text: str) -> TagPattern:
    """`repository:glob`; raise InvalidReference when the repository or the glob is not valid."""
    _check_characters(text)
    if "@" in text:
        raise _refuse(text, message("a tag pattern cannot be pinned to a digest (drop the '@…' "
                                    "part)"))
    colon = text.rfind(":")
    if colon <= text.rfind("/"):
        raise _refuse(text, message("a tag pattern needs ':' and a tag glob, e.g. nginx:1.27.*"))
    name, glob = text[:colon], text[colon + 1 :]
    if not TAG_PATTERN_RE.match(glob):
        raise _refuse(text, message("'%(glob)s' is not a tag pattern (tag characters with * and ?, "
                                    "at most 128)", glob=glob))
    base = parse(name)
    return TagPattern(base.registry, base.repository, glob)


def parse(text: str) -> Reference:
    """Parse and normalise `text`; raise InvalidReference with the reason if it is not valid."""
    _check_characters(text)
    if IMAGE_ID_RE.match(text):
        raise _refuse(text, message("64 hex characters are an image ID, not an image name (pin a "
                                    "digest as name@sha256:<hex>)"))
    remainder, at, digest = text.partition("@")
    digest_value = _check_digest(text, digest) if at else None
    if at and "@" in digest:
        raise _refuse(text, message("a reference has at most one '@digest'"))
    tag: str | None = None
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not TAG_RE.match(tag):
            raise _refuse(text, message("'%(tag)s' is not a valid tag (letters, digits, '_', '.', "
                                        "'-'; at most 128; not starting with '.' or '-')", tag=tag))
    registry, path = _split_domain(text, remainder)
    _check_path(text, path)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    if len(registry) + 1 + len(path) > MAX_REPOSITORY_LENGTH:
        raise _refuse(text, message("the repository name is longer than %(limit)s characters",
                                    limit=MAX_REPOSITORY_LENGTH))
    if tag is None and digest_value is None:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest_value)


def is_valid_path_component(component: str) -> bool:
    return bool(PATH_COMPONENT_RE.match(component))


def is_valid_domain(domain: str) -> bool:
    return bool(DOMAIN_RE.match(domain))
