"""Text that is almost an image's name -> why it is refused, and what its writer most likely meant.

Rule: text the reference grammar would read into an image nobody asked for, or refuse without the
one correction its writer needs, is refused here with that correction (a did-you-mean), never
read: a registry host glued to the name (`docker.iojonnyan404/app`), a host one letter away from
a well-known registry's (`docker0.io/…`) or a web site's (`docker.com/…`), a registry host inside
the name (`docker.io/mcr.microsoft.com/x`), an empty path component (`a//b`, `a/b/:tag`), two
tags (`httpd:2.4.62:latest`), a version or a tag where the name should end
(`cube/v1.1.11:latest`, `docker.io/latest`), a platform written as a name
(`docker.io/linux/arm64`). The correction is offered only when it is the one reading of the text;
otherwise the refusal says what to write. Typos that could be real tags or names (`:lastest`,
`mysql8.0.28`) are not repaired: they are read as written (bot/policy/suggest.py suggests again
when the upstream does not know them). Pure: no I/O, never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from bot.image import reference
from bot.image.platform import KNOWN_ARCHITECTURES, KNOWN_OS, InvalidPlatform, Platform
from bot.messages import Message, message
from bot.request.words import VERSION_RE

# Registries people name most; a host that is none of these (nor a configured mirror) but one
# letter away from one of them is read as a typo of it.
KNOWN_REGISTRIES = frozenset({
    reference.DEFAULT_REGISTRY, *reference.DOCKER_HUB_ALIASES, "ghcr.io", "quay.io", "gcr.io",
    "registry.k8s.io", "k8s.gcr.io", "mcr.microsoft.com", "nvcr.io", "public.ecr.aws",
    "docker.elastic.co", "registry.gitlab.com", "cr.l5d.io",
})
# Web sites written where their registry belongs.
SITE_REGISTRIES = {"docker.com": reference.DEFAULT_REGISTRY, "www.docker.com": reference.DEFAULT_REGISTRY}
# Tag words that are never an image's whole name (`docker.io/latest`).
TAG_WORDS = frozenset({reference.DEFAULT_TAG})


@dataclass(frozen=True)
class Repair:
    """Why the text is refused as written, and the reference text it most likely meant."""

    problem: Message
    meant: str | None = None


@dataclass(frozen=True)
class _Parts:
    """`host/a/b:tag@digest` cut where the grammar cuts it, nothing validated."""

    host: str | None
    path: list[str]
    tag: str | None  # everything after the name's first ':' (two tags keep their ':')
    digest: str  # "@…" or ""

    def text(self, host: str | None, path: list[str], tag: str | None) -> str:
        name = "/".join([host, *path] if host else path)
        return name + (f":{tag}" if tag is not None else "") + self.digest


def _parts(text: str) -> _Parts:
    name, at, digest = text.partition("@")
    last_slash = name.rfind("/")
    colon = name.find(":", last_slash + 1)
    tag = None
    if colon != -1:
        name, tag = name[:colon], name[colon + 1 :]
    components = name.split("/")
    host = None
    if len(components) > 1 and reference.looks_like_domain(components[0]):
        host, components = components[0], components[1:]
    return _Parts(host, components, tag, f"{at}{digest}")


def repair(text: str, known_hosts: Collection[str] = ()) -> Repair | None:
    """Why `text` (a pasted address already read into reference text) is refused, with what it
    most likely meant; None when it is read as written. `known_hosts`: further hosts that are
    real (this mirror's, other mirrors'), never taken for a typo."""
    parts = _parts(text)
    for check in CHECKS:
        found = check(parts, frozenset(known_hosts))
        if found is not None:
            return found
    return None


def _glued_host(parts: _Parts, _known: frozenset[str]) -> Repair | None:
    """`docker.iojonnyan404/verysync` -> `docker.io/jonnyan404/verysync`."""
    host = (parts.host or "").lower()
    for known in sorted(KNOWN_REGISTRIES, key=len, reverse=True):
        rest = host[len(known):]
        if host.startswith(known) and rest and rest[0].isalnum() and not set(".:") & set(rest):
            meant = parts.text(known, [rest, *parts.path], parts.tag)
            return Repair(message("%(host)s is the registry %(registry)s with the next name glued "
                                  "to it (a '/' is missing)", host=parts.host, registry=known), meant)
    return None


def _mistyped_host(parts: _Parts, known: frozenset[str]) -> Repair | None:
    """`docker0.io/…`, `doocker.io/…` -> `docker.io/…`; `docker.com/…` (a web site) -> `docker.io/…`."""
    host = (parts.host or "").lower()
    if not host or host in KNOWN_REGISTRIES or host in known:
        return None
    registry = SITE_REGISTRIES.get(host)
    if registry is None:
        near = [name for name in sorted(KNOWN_REGISTRIES) if _one_edit(host, name)]
        if len(near) != 1:
            return None
        registry = near[0]
    return Repair(message("%(host)s is not a registry's address; %(registry)s is", host=parts.host,
                          registry=registry), parts.text(registry, parts.path, parts.tag))


def _one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns `a` into `b`."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    if len(a) == len(b):
        swapped = a[start + 2 :] == b[start + 2 :] and a[start : start + 2] == b[start : start + 2][::-1]
        return a[start + 1 :] == b[start + 1 :] or swapped
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[start + 1 :] == shorter[start:]


def _host_in_name(parts: _Parts, _known: frozenset[str]) -> Repair | None:
    """`docker.io/mcr.microsoft.com/edge-dev` -> `mcr.microsoft.com/edge-dev`."""
    for position, component in enumerate(parts.path):
        if component.lower() in KNOWN_REGISTRIES:
            rest = parts.path[position + 1 :]
            meant = parts.text(component.lower(), rest, parts.tag) if rest else None
            return Repair(message("%(host)s is a registry host inside the image's name; the name "
                                  "starts with its registry", host=component), meant)
    return None


def _empty_component(parts: _Parts, _known: frozenset[str]) -> Repair | None:
    """`docker.io//a/b`, `a/b/:tag` -> `docker.io/a/b`, `a/b:tag`."""
    if "" not in parts.path:
        return None
    kept = [component for component in parts.path if component]
    meant = parts.text(parts.host, kept, parts.tag) if kept else None
    return Repair(message("the name has an empty part (two '/' together, or a '/' before the "
                          "':')"), meant)


def _two_tags(parts: _Parts, _known: frozenset[str]) -> Repair | None:
    """`httpd:2.4.62:latest` -> `httpd:2.4.62`; `python::latest` -> `python:latest`."""
    if parts.tag is None or ":" not in parts.tag:
        return None
    tags = parts.tag.split(":")
    others = {tag for tag in tags if tag and tag != reference.DEFAULT_TAG}
    meant = None
    if len(others) <= 1:
        meant = parts.text(parts.host, parts.path, others.pop() if others else reference.DEFAULT_TAG)
    return Repair(message("%(tags)s is more than one tag; an image is asked for with one",
                          tags=parts.tag), meant)


def _platform_as_name(parts: _Parts, _known: frozenset[str]) -> Repair | None:
    """`docker.io/linux/arm64`: a platform, not an image."""
    if (parts.host or reference.DEFAULT_REGISTRY).lower() != reference.DEFAULT_REGISTRY:
        return None
    if len(parts.path) not in (2, 3) or parts.path[0] not in KNOWN_OS \
            or parts.path[1] not in KNOWN_ARCHITECTURES:
        return None
    try:
        platform = Platform.parse("/".join(parts.path))
    except InvalidPlatform:
        return None
    return Repair(message("%(platform)s is a platform, not an image: write the image, then "
                          "--platform=%(platform)s", platform=platform))


def _version_as_name(parts: _Parts, _known: frozenset[str]) -> Repair | None:
    """`cubejs/cube/v1.1.11:latest` -> `cubejs/cube:v1.1.11`; `docker.io/latest`, `v2.9.4`: no name."""
    name = parts.path[-1]
    version = bool(VERSION_RE.match(name)) and "." in name
    if not version and not (name in TAG_WORDS and len(parts.path) == 1):
        return None
    meant = None
    if version and len(parts.path) > 1 and parts.tag in (None, reference.DEFAULT_TAG):
        meant = parts.text(parts.host, parts.path[:-1], name)
    return Repair(message("%(name)s is a tag, not an image's name: write the name, then ':' and "
                          "the tag", name=name), meant)


CHECKS: tuple[Callable[[_Parts, frozenset[str]], Repair | None], ...] = (
    _glued_host, _mistyped_host, _host_in_name, _empty_component, _two_tags, _platform_as_name,
    _version_as_name)
