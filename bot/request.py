"""Issue title and body -> the references asked for and the platforms wanted.

Rule: images come from the title (or an issue form's `### Image` section when there is one),
separated by spaces, commas or new lines; platforms come from `--platform=os/arch`, bare
`os/arch` words or a `### Platform` section. What users paste around an image name (quotes,
backticks, `docker pull`, URLs of Docker Hub or Quay, this mirror's own address) is forgiven;
anything else that is not a reference is reported with the reason. Nothing here raises on input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot import reference
from bot.errors import InvalidReference
from bot.platform import KNOWN_OS, InvalidPlatform, Platform
from bot.reference import Reference

DEFAULT_MAX_IMAGES = 10
MAX_TITLE_LENGTH = 1024
NO_RESPONSE = "_No response_"

PULL_COMMAND_RE = re.compile(
    r"^\s*(?:sudo\s+)?(?:docker|podman|nerdctl|crictl|ctr(?:\s+-n\s+\S+)?\s+(?:i|images?))"
    r"(?:\s+image)?\s+pull\s+",
    re.IGNORECASE,
)
TITLE_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]\n]{0,40}\]\s*|(?:sync|mirror)(?:\s+image)?\s*[:：]\s*)+", re.IGNORECASE
)
FORM_SECTION_RE = re.compile(r"^###\s+(.+?)\s*$", re.MULTILINE)
URL_SCHEME_RE = re.compile(r"^(?:https?|docker)://", re.IGNORECASE)
QUOTES = "`'\"“”‘’"


@dataclass(frozen=True)
class RequestedImage:
    """One image named in an issue: the reference, or why there is none."""

    input: str
    reference: Reference | None
    error: str | None = None


@dataclass(frozen=True)
class ImageRequest:
    images: tuple[RequestedImage, ...]
    platforms: tuple[Platform, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def references(self) -> list[Reference]:
        return [image.reference for image in self.images if image.reference is not None]


def form_sections(body: str) -> dict[str, str]:
    """Issue-form sections (`### Heading` then text) by lowercased heading."""
    sections: dict[str, str] = {}
    matches = list(FORM_SECTION_RE.finditer(body))
    for match, following in zip(matches, [*matches[1:], None], strict=False):
        end = following.start() if following else len(body)
        text = body[match.end() : end].strip()
        sections[match.group(1).strip().lower()] = "" if text == NO_RESPONSE else text
    return sections


def _platform_word(token: str) -> Platform | None:
    """`os/arch[/variant]` with a known OS: a platform, not an image name."""
    if "/" not in token or token.split("/", 1)[0].lower() not in KNOWN_OS:
        return None
    try:
        return Platform.parse(token)
    except InvalidPlatform:
        return None


def _strip_known_url(token: str) -> str:
    token = URL_SCHEME_RE.sub("", token).rstrip("/")
    lowered = token.lower()
    for prefix in ("hub.docker.com/r/", "hub.docker.com/repository/docker/"):
        if lowered.startswith(prefix):
            return "/".join(token[len(prefix) :].split("/")[:2])
    if lowered.startswith("hub.docker.com/_/"):
        return token[len("hub.docker.com/_/") :].split("/")[0]
    if lowered.startswith("hub.docker.com/layers/"):
        parts = token[len("hub.docker.com/layers/") :].split("/")
        if len(parts) >= 3:
            namespace = "library" if parts[0] == "_" else parts[0]
            return f"{namespace}/{parts[1]}:{parts[2]}"
    if lowered.startswith("quay.io/repository/"):
        return "quay.io/" + "/".join(token[len("quay.io/repository/") :].split("/")[:2])
    return token


def _strip_mirror(token: str, mirror_hosts: Sequence[str]) -> str:
    for host in mirror_hosts:
        if host and token.lower().startswith(f"{host.lower()}/"):
            return token[len(host) + 1 :]
    return token


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for line in text.splitlines() or [""]:
        command = PULL_COMMAND_RE.sub("", line)
        tokens.extend(t for t in re.split(r"[\s,]+", command) if t)
    return tokens


def parse_request(
    title: str,
    body: str = "",
    mirror_hosts: Sequence[str] = (),
    max_images: int = DEFAULT_MAX_IMAGES,
) -> ImageRequest:
    """Read the images and platforms an issue asks for. Never raises for any input text."""
    title = title[:MAX_TITLE_LENGTH + 1]
    sections = form_sections(body or "")
    image_text = sections.get("image") or sections.get("images") or title
    if len(image_text) > MAX_TITLE_LENGTH:
        return ImageRequest((RequestedImage(image_text[:80] + "…", None,
                                            f"the request is longer than {MAX_TITLE_LENGTH} characters"),))
    image_text = TITLE_PREFIX_RE.sub("", image_text.strip(), count=1)
    platform_text = "\n".join(
        [sections.get("platform", ""), sections.get("platforms", "")]
        + [line for line in (body or "").splitlines() if "--platform" in line]
    )
    images, platforms, problems = _scan(_tokens(image_text), mirror_hosts, want_images=True)
    _, more_platforms, more_problems = _scan(_tokens(platform_text), mirror_hosts,
                                             want_images=False)
    platforms += more_platforms
    problems += more_problems
    images = _dedupe(images)
    if len(images) > max_images:
        extra = len(images) - max_images
        images = images[:max_images] + [
            RequestedImage(image.input, None,
                           f"more than {max_images} images in one issue; open another issue for "
                           f"the remaining {extra}")
            for image in images[max_images:]
        ]
    if not images:
        images = [RequestedImage(title.strip()[:80], None,
                                 "no image name found; write the image as the issue title, "
                                 "e.g. docker.io/library/nginx:1.27")]
    return ImageRequest(tuple(images), tuple(dict.fromkeys(platforms)), tuple(problems))


def _scan(tokens: list[str], mirror_hosts: Sequence[str], *, want_images: bool,
          ) -> tuple[list[RequestedImage], list[str], list[str]]:
    """Sort tokens into images (when wanted), platforms and platform problems."""
    images: list[RequestedImage] = []
    platforms: list[Platform] = []
    problems: list[str] = []
    expecting_platform = False
    for raw in tokens:
        token = raw.strip(QUOTES)
        if not token:
            continue
        lowered = token.lower()
        if expecting_platform or lowered.startswith("--platform="):
            values = token if expecting_platform else token.split("=", 1)[1]
            expecting_platform = False
            for value in filter(None, values.split(",")):
                try:
                    platforms.append(Platform.parse(value))
                except InvalidPlatform as error:
                    problems.append(str(error))
        elif lowered == "--platform":
            expecting_platform = True
        elif (platform := _platform_word(token)) is not None:
            platforms.append(platform)
        elif want_images:
            images.append(requested_image(raw, token, mirror_hosts))
    if expecting_platform:
        problems.append("--platform needs a value (write --platform=linux/arm64)")
    return images, platforms, problems


def requested_image(raw: str, token: str, mirror_hosts: Sequence[str]) -> RequestedImage:
    if token.startswith("-"):
        return RequestedImage(raw, None, f"'{token}' looks like a command-line option; options are "
                                         "not accepted (name platforms as --platform=os/arch)")
    candidate = _strip_mirror(_strip_known_url(token), mirror_hosts)
    try:
        return RequestedImage(raw, reference.parse(candidate))
    except InvalidReference as error:
        return RequestedImage(raw, None, error.reason)


def _dedupe(images: list[RequestedImage]) -> list[RequestedImage]:
    seen: set[Reference | str] = set()
    unique = []
    for image in images:
        key: Reference | str = image.reference or image.input
        if key not in seen:
            seen.add(key)
            unique.append(image)
    return unique
