"""Source reference -> mirrored address.

Rule: the mirrored repository is a Jinja2 template (default
`{{ mirror }}/{{ registry }}/{{ repository }}`, with `:` in the source registry written `-`),
followed by the source's own tag and/or digest. Two different sources must never share a target,
so a template that maps any of a set of colliding probe names onto one address is refused.
A mirror is written `host[:port][/path]`: no scheme, a port in 1-65535, the host lowercased
(hosts are case-insensitive); `parse_mirror_registries` is the one check for the environment
variable and the allowlist setting alike.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from bot.errors import ConfigError, InvalidReference, MirrorBotError
from bot.image import reference
from bot.image.reference import Reference
from bot.messages import message

if TYPE_CHECKING:
    from jinja2 import Template

DEFAULT_TEMPLATE = "{{ mirror }}/{{ registry }}/{{ repository }}"
PORT_SUFFIX_RE = re.compile(r"-[0-9]+\Z")
MAX_PORT = 65535

# Sources that a careless template would merge: registry vs path, '/' vs '-', '_' or '.',
# ports vs dashes, official images vs user repositories.
COLLISION_PROBES = (
    "docker.io/library/nginx", "docker.io/nginx/nginx", "ghcr.io/library/nginx",
    "quay.io/library/nginx", "docker.io/a/b-c", "docker.io/a-b/c", "docker.io/a_b/c",
    "docker.io/a/b_c", "docker.io/a.b/c", "docker.io/a/b.c", "docker.io/a/b/c",
    "docker.io/a/bc", "docker.io/ab/c", "ghcr.io/a/b-c", "ghcr.io/a-b/c",
    "localhost:5000/a/b", "localhost/a/b", "registry.example.com:5000/a",
    "registry.example.com/a", "registry-example.com/a", "registry.k8s.io/pause",
    "k8s.gcr.io/pause", "docker.io/a__b/c", "docker.io/a/b__c",
)


class NamingError(MirrorBotError):
    """A source that cannot be given a mirrored address."""


def parse_mirror(text: str) -> str:
    """One mirror `host[:port][/path]`, normalised (host lowercased, no trailing '/').

    Raises ConfigError with one line saying what to write instead.
    """
    text = text.strip()
    if "://" in text:
        raise ConfigError(f"'{text}' has a scheme; write it as host[:port][/path], "
                          f"e.g. '{text.split('://', 1)[1].rstrip('/')}'")
    text = text.rstrip("/")
    host, _, path = text.partition("/")
    if not host:
        raise ConfigError("the mirror registry is empty; write host[:port][/path], e.g. m.example.io")
    host = host.lower()
    if not reference.is_valid_domain(host):
        raise ConfigError(f"'{host}' is not a registry host; write host[:port][/path], e.g. m.example.io")
    port = host.rpartition(":")[2] if not host.endswith("]") and ":" in host else None
    if port is not None and not 1 <= int(port) <= MAX_PORT:
        raise ConfigError(f"'{host}': port {port} is out of range (1-{MAX_PORT})")
    for component in path.split("/") if path else ():
        if not reference.is_valid_path_component(component):
            raise ConfigError(f"'{text}': '{component}' is not a valid path component "
                              "(lowercase letters, digits and single '.', '_' or '-' between them)")
    return f"{host}/{path}" if path else host


def parse_mirror_registries(text: str) -> tuple[str, ...]:
    """`host[:port][/path]`, or several separated by commas (the first is the primary)."""
    parts = text.split(",")
    if len(parts) > 1 and not all(part.strip() for part in parts):
        raise ConfigError(f"'{text}' has an empty entry between commas; separate mirrors with one ','")
    mirrors = tuple(parse_mirror(part) for part in parts)
    repeated = sorted({mirror for mirror in mirrors if mirrors.count(mirror) > 1})
    if repeated:
        raise ConfigError(f"mirror '{repeated[0]}' is listed twice; list each mirror once")
    return mirrors


def registry_component(registry: str) -> str:
    """The source registry as a path component: `host:5000` -> `host-5000`."""
    if registry.startswith("["):
        raise NamingError(message("IPv6 registry '%(registry)s' cannot be written as a mirror path",
                                  registry=registry))
    host, _, port = registry.partition(":")
    if PORT_SUFFIX_RE.search(host):
        # `host-5000` is kept for `host:5000`; a real host name ending in -digits would collide.
        raise NamingError(message("registry '%(registry)s' ends in -digits, which the mirror uses "
                                  "for ports", registry=registry))
    return f"{host}-{port}" if port else host


def hub_short_form(source: Reference) -> Reference | None:
    """`docker.io/NAME` for the official image `docker.io/library/NAME`: the address people
    compose by putting the mirror in front of what they type (`docker pull nginx`)."""
    namespace, _, name = source.repository.partition("/")
    if source.registry != reference.DEFAULT_REGISTRY or namespace != reference.OFFICIAL_NAMESPACE \
            or not name or "/" in name:
        return None
    return Reference(source.registry, name, source.tag, source.digest)


@dataclass(frozen=True)
class Namer:
    """Maps source references to mirrored addresses: under the primary mirror, and under every
    further mirror (`also`) and Docker Hub's short form for official images."""

    mirror: str
    template: str = DEFAULT_TEMPLATE
    also: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A Namer never holds an unchecked mirror: `M.Example.io/` becomes `m.example.io`.
        object.__setattr__(self, "mirror", parse_mirror(self.mirror))
        object.__setattr__(self, "also", tuple(parse_mirror(m) for m in self.also))

    @property
    def mirrors(self) -> tuple[str, ...]:
        """Every mirror, the primary first."""
        return (self.mirror, *self.also)

    @property
    def pasted_prefixes(self) -> tuple[str, ...]:
        """How users paste our mirrors in front of an image. A mirror with a path
        (`ghcr.io/owner`) is only that prefix: its bare host also serves other images."""
        return self.mirrors

    @cached_property
    def _compiled(self) -> Template:
        from jinja2 import StrictUndefined, TemplateError
        from jinja2.sandbox import SandboxedEnvironment

        environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        try:
            return environment.from_string(self.template)
        except TemplateError as error:
            raise ConfigError(f"naming template does not compile: {error}") from error

    def _render(self, registry: str, source: Reference) -> str:
        from jinja2 import TemplateError

        try:
            return self._compiled.render(mirror=self.mirror, registry=registry,
                                         source_registry=source.registry,
                                         repository=source.repository).strip()
        except TemplateError as error:
            raise ConfigError(f"naming template failed: {error}") from error
        except MirrorBotError:
            raise
        except Exception as error:  # a template is code a maintainer wrote: anything may fail
            raise ConfigError(f"naming template failed: {type(error).__name__}: {error}") \
                from error

    def repository(self, source: Reference) -> str:
        """The mirrored `host/path` for the source repository."""
        registry = registry_component(source.registry)
        if self.template == DEFAULT_TEMPLATE:
            # The default needs no template engine (Jinja2 costs ~50 ms to import).
            rendered = f"{self.mirror}/{registry}/{source.repository}"
        else:
            rendered = self._render(registry, source)
        if not rendered.startswith(f"{self.mirror}/"):
            raise ConfigError(f"naming template must produce '{self.mirror}/...', got '{rendered}'")
        try:
            reference.parse_name(rendered)
        except InvalidReference as error:
            raise NamingError(message("mirrored name '%(name)s' is invalid: %(reason)s",
                                      name=rendered, reason=error.said)) from error
        return rendered

    def target(self, source: Reference) -> Reference:
        """The primary mirrored address of `source`."""
        parsed = reference.parse(self.repository(source))
        return Reference(parsed.registry, parsed.repository, source.tag, source.digest)

    def targets(self, source: Reference, *, short_first: bool = False) -> list[Reference]:
        """Every address `source` is served under: each mirror (the primary first), each form
        (the canonical `docker.io/library/NAME` first, then `docker.io/NAME`; with
        `short_first`, as someone who wrote `nginx` reads them)."""
        forms = [source, *filter(None, [hub_short_form(source)])]
        forms = forms[::-1] if short_first else forms
        found: list[Reference] = []
        for namer in (self, *(replace(self, mirror=mirror, also=()) for mirror in self.also)):
            found.extend(t for t in (namer.target(form) for form in forms) if t not in found)
        return found

    def validate(self) -> None:
        """Refuse a template that maps two different probe sources to the same address."""
        probes = [reference.parse(probe) for probe in COLLISION_PROBES]
        try:
            collisions = find_collisions(self, probes)
        except NamingError as error:
            raise ConfigError(f"naming template cannot name a probe: {error}") from error
        if collisions:
            first, second = collisions[0]
            raise ConfigError(
                f"naming template collides: '{first.name}' and '{second.name}' both map to "
                f"'{self.repository(first)}'; keep the source registry and every '/' of the "
                "repository in it"
            )


def find_collisions(namer: Namer, sources: list[Reference]) -> list[tuple[Reference, Reference]]:
    """Pairs of different images that `namer` maps to the same address (an official image's
    two forms are one image)."""
    by_target: dict[Reference, set[Reference]] = {}
    for source in sources:
        for form in (source, *filter(None, [hub_short_form(source)])):
            by_target.setdefault(namer.target(form), set()).add(source)
    return [
        pair
        for group in by_target.values()
        for pair in itertools.combinations(sorted(group), 2)
    ]
