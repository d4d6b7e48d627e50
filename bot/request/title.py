"""Issue title and body -> the references asked for and the platforms wanted.

Rule: images come from the title, or from an issue form's `### Image` section when the body
has one; platforms come from the title and, in a form body, from the `### Platform` section
only (no other section, Notes included, changes the request); in a body that is not a form,
only a line of nothing but platform flags counts. Which words name images is
`request_words`'s rule, what a pasted address stands for is `request_address`'s, text that is
almost a name is `request_repair`'s, validity is the reference grammar's. A tag with `*` or `?`
is a tag pattern, kept unexpanded. Every word meant as an image yields exactly one entry: a
reference, a pattern, or the reason it is none — with, when one reading is plain, the
reference it most likely meant (`suggestion`), itself read by the same rules and never copied.
A request that names no image may carry a `hint` from its prose (`nginx 1.27`). Nothing here
raises on input.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.errors import InvalidReference
from bot.image import reference
from bot.image.platform import Platform
from bot.image.reference import Reference, TagPattern
from bot.messages import Message, message
from bot.request import words
from bot.request.address import read_address
from bot.request.repair import KNOWN_REGISTRIES

DEFAULT_MAX_IMAGES = 10
MAX_TITLE_LENGTH = 1024
NO_RESPONSE = "_No response_"
FORM_SECTION_RE = re.compile(r"^###\s+(.+?)\s*$", re.MULTILINE)
ALL_PLATFORMS = "all platforms"
MAX_MEANT_DEPTH = 3  # a did-you-mean is read again, and is never longer-lived than this
NO_IMAGE = message("no image named; write the image as the issue title, e.g. "
                   "docker.io/library/nginx:1.27 (bare words are read as images only when the title "
                   "is nothing but a list of images)")


@dataclass(frozen=True)
class RequestedImage:
    """One image named in an issue: the reference or the tag pattern, or why there is none."""

    input: str
    reference: Reference | None
    error: Message | None = None
    notes: tuple[Message, ...] = ()
    pattern: TagPattern | None = None
    # With an error: the reference (or tag pattern) its writer most likely meant.
    suggestion: str | None = None
    # A request that names no image: a bare name in its prose (`nginx:1.27` in "mirror nginx
    # 1.27"), a guess the plan offers only for a popular image.
    hint: str | None = None


@dataclass(frozen=True)
class ImageRequest:
    images: tuple[RequestedImage, ...]
    platforms: tuple[Platform, ...] = ()
    problems: tuple[Message, ...] = ()


def form_sections(body: str) -> dict[str, str]:
    """Issue-form sections (`### Heading` then text) by lowercased heading."""
    sections: dict[str, str] = {}
    matches = list(FORM_SECTION_RE.finditer(body))
    for match, following in zip(matches, [*matches[1:], None], strict=False):
        end = following.start() if following else len(body)
        text = body[match.end() : end].strip()
        sections[match.group(1).strip().lower()] = "" if text == NO_RESPONSE else text
    return sections


def parse_request(
    title: str,
    body: str = "",
    mirror_hosts: Sequence[str] = (),
    max_images: int = DEFAULT_MAX_IMAGES,
    *,
    mirror_prefixes: Mapping[str, str],
    registries: Collection[str] = (),
) -> ImageRequest:
    """Read the images and platforms an issue asks for. Never raises for any input text.

    `mirror_hosts` are this mirror's own address forms; `mirror_prefixes` other mirrors'
    (prefix -> the registry it stands for, "" when the full name follows); `registries` further
    registry hosts known to be real (the allowlist's), never taken for a typo.
    """
    title = title[: MAX_TITLE_LENGTH + 1]
    sections = form_sections(body or "")
    image_text = sections.get("image") or sections.get("images") or title
    if len(image_text) > MAX_TITLE_LENGTH:
        return ImageRequest((RequestedImage(image_text[:80] + "…", None, message(
            "the request is longer than %(limit)s characters", limit=MAX_TITLE_LENGTH)),))
    hosts = {host.split("/", 1)[0].lower() for host in (*mirror_hosts, *mirror_prefixes)}
    reading = words.read(image_text, KNOWN_REGISTRIES | hosts | set(registries))
    platforms = list(reading.platforms)
    problems = list(reading.problems)
    body_platforms = _body_platforms(body or "", sections)
    platforms += body_platforms.platforms
    problems += body_platforms.problems
    images = _dedupe([_requested(found, mirror_hosts, mirror_prefixes, registries)
                      for found in reading.images])
    if len(images) > max_images:
        extra = len(images) - max_images
        images = images[:max_images] + [
            RequestedImage(image.input, None, message(
                "more than %(limit)s images in one issue; open another issue for the remaining "
                "%(extra)s", limit=max_images, extra=extra))
            for image in images[max_images:]
        ]
    if not images:
        hint = reading.hints[0] if len(set(reading.hints)) == 1 else None
        images = [RequestedImage(title.strip()[:80], None, NO_IMAGE, hint=hint)]
    return ImageRequest(tuple(images), tuple(dict.fromkeys(platforms)), tuple(problems))


def _body_platforms(body: str, sections: dict[str, str]) -> words.Reading:
    """Platforms from the form's Platform section, or from lines that are only platform flags."""
    if sections:
        chosen = "\n".join(sections.get(key, "") for key in ("platform", "platforms"))
        if chosen.strip().lower() == ALL_PLATFORMS:
            return words.Reading()
        return words.read_platforms(chosen)
    reading = words.Reading()
    for line in body.splitlines():
        if "--platform" in line:
            found = words.read_platforms(line)
            if found.leftover == 0:
                reading.platforms += found.platforms
                reading.problems += found.problems
    return reading


def _requested(found: words.Found, mirror_hosts: Sequence[str], mirror_prefixes: Mapping[str, str],
               registries: Collection[str]) -> RequestedImage:
    if found.problem is None:
        image = requested_image(found.text, found.text, mirror_hosts, mirror_prefixes, registries)
        return replace(image, notes=(*found.notes, *image.notes))
    meant = _meant(found.meant, mirror_hosts, mirror_prefixes, registries, MAX_MEANT_DEPTH)
    return RequestedImage(found.text, None, found.problem, found.notes, suggestion=meant)


def requested_image(raw: str, token: str, mirror_hosts: Sequence[str],
                    mirror_prefixes: Mapping[str, str], registries: Collection[str] = (), *,
                    depth: int = MAX_MEANT_DEPTH) -> RequestedImage:
    """One word meant as an image: its reference or tag pattern, or why it has none (with the
    reference it most likely meant, when one reading is plain)."""
    if token.startswith("-"):
        return RequestedImage(raw, None, message(
            "'%(word)s' looks like a command-line option; options are not accepted (name platforms "
            "as --platform=os/arch)", word=token))
    address = read_address(token, mirror_hosts, mirror_prefixes, registries)
    if address.text is None:
        meant = _meant(address.meant, mirror_hosts, mirror_prefixes, registries, depth)
        return RequestedImage(raw, None, address.error, address.notes, suggestion=meant)
    try:
        if reference.is_tag_pattern(address.text):
            return RequestedImage(raw, None, notes=address.notes,
                                  pattern=reference.parse_pattern(address.text))
        return RequestedImage(raw, reference.parse(address.text), notes=address.notes)
    except InvalidReference as error:
        lowered = _lowercase_name(address.text)
        meant = _meant(lowered, mirror_hosts, mirror_prefixes, registries, depth) \
            if lowered != address.text else None
        return RequestedImage(raw, None, error.said, address.notes, suggestion=meant)


def _meant(text: str | None, mirror_hosts: Sequence[str], mirror_prefixes: Mapping[str, str],
           registries: Collection[str], depth: int) -> str | None:
    """The reference (or tag pattern) `text` reads as by the same rules, its name lowercased;
    None when it reads as none, or as another near miss (never a guess built on a guess)."""
    if text is None or depth <= 0:
        return None
    text = _lowercase_name(text)
    image = requested_image(text, text, mirror_hosts, mirror_prefixes, registries, depth=depth - 1)
    found = image.reference or image.pattern
    return str(found) if found else None


def _lowercase_name(text: str) -> str:
    """`Docker.io/MySQL:8.0` -> `docker.io/mysql:8.0`: the name lowercased, tag and digest kept."""
    name, at, digest = text.partition("@")
    colon = name.find(":", name.rfind("/") + 1)
    tag = name[colon:] if colon != -1 else ""
    return (name[: len(name) - len(tag)]).lower() + tag + at + digest


def _dedupe(images: list[RequestedImage]) -> list[RequestedImage]:
    seen: set[Reference | TagPattern | str] = set()
    unique = []
    for image in images:
        key: Reference | TagPattern | str = image.reference or image.pattern or image.input
        if key not in seen:
            seen.add(key)
            unique.append(image)
    return unique
