"""Compose files: `services.<name>.image`.

Rule: only a service's `image:` is a reference (other `image` keys, under `x-` extensions for
instance, count when a service reaches them through a merge key). A service that has `build:`
names with `image:` the image it builds, not one it pulls: that name is left alone, as no
source of the mirror. Interpolated values (`${REGISTRY}/app:${TAG:-1}`) are left and named.
`# mirror-bot: ignore` at the end of the `image:` line marks it.
"""

from __future__ import annotations

import yaml

from bot.rewrite import yamldoc
from bot.rewrite.model import Found, Left, Scan, scan_of
from bot.rewrite.yamldoc import Marks


def find(text: str, name: str) -> Scan:
    marks = Marks.of(text)
    results: list[Found | Left] = []
    seen: set[int] = set()
    for service in _services(yamldoc.documents(text, name)):
        image = _field(service, "image")
        if image is None or id(image) in seen or _field(service, "build") is not None:
            continue
        seen.add(id(image))
        marked = marks.any_between(yamldoc.first_line(image), yamldoc.last_line(image))
        result = yamldoc.image_scalar(image, text, marked)
        if result is not None:
            results.append(result)
    return scan_of(results)


def _field(service: yaml.Node, key: str) -> yaml.Node | None:
    """The service's `key`, or the one it merges in (`<<: *defaults`), as YAML merges: its own
    first, then each merged map in order with what that one merges (each map once, without
    recursion, so a long chain of merges cannot exhaust the stack)."""
    stack, seen = [service], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue  # an anchor may merge itself
        seen.add(id(node))
        fields = dict(yamldoc.mapping_items(node))
        if key in fields:
            return fields[key]
        merged = fields.get("<<")
        stack += reversed(merged.value if isinstance(merged, yaml.SequenceNode) else
                          [merged] if merged else [])
    return None


def _services(roots: list[yaml.Node]) -> list[yaml.Node]:
    return [service for root in roots
            for key, services in yamldoc.mapping_items(root) if key == "services"
            for _, service in yamldoc.mapping_items(services)]


def looks_like(roots: list[yaml.Node]) -> bool:
    """A compose file: a top-level `services:` map of service maps."""
    return any(key == "services" and isinstance(value, yaml.MappingNode)
               for root in roots for key, value in yamldoc.mapping_items(root))
