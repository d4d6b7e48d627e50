"""Compose files: `services.<name>.image`.

Rule: only a service's `image:` is a reference (other `image` keys, under `x-` extensions for
instance, count when a service reaches them through an alias). Interpolated values
(`${REGISTRY}/app:${TAG:-1}`) are left alone.
"""

from __future__ import annotations

import yaml

from bot.rewrite import yamldoc
from bot.rewrite.model import Found, Ignored, Scan


def find(text: str, name: str) -> Scan:
    found: list[Found] = []
    ignored: list[Ignored] = []
    seen: set[int] = set()
    for service in _services(yamldoc.documents(text, name)):
        image = _image_node(service)
        if image is None or id(image) in seen:
            continue
        seen.add(id(image))
        result = yamldoc.image_scalar(image, text)
        if isinstance(result, Found):
            found.append(result)
        elif isinstance(result, Ignored):
            ignored.append(result)
    return Scan(tuple(found), tuple(ignored))


def _image_node(service: yaml.Node, seen: frozenset[int] = frozenset()) -> yaml.Node | None:
    """The service's `image`, or the one it merges in (`<<: *defaults`), as compose does."""
    fields = dict(yamldoc.mapping_items(service))
    if "image" in fields:
        return fields["image"]
    merged = fields.get("<<")
    sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged] if merged else []
    seen = seen | {id(service)}
    for source in sources:
        if id(source) not in seen:  # an anchor may merge itself
            image = _image_node(source, seen)
            if image is not None:
                return image
    return None


def _services(roots: list[yaml.Node]) -> list[yaml.Node]:
    return [service for root in roots
            for key, services in yamldoc.mapping_items(root) if key == "services"
            for _, service in yamldoc.mapping_items(services)]


def looks_like(roots: list[yaml.Node]) -> bool:
    """A compose file: a top-level `services:` map of service maps."""
    return any(key == "services" and isinstance(value, yaml.MappingNode)
               for root in roots for key, value in yamldoc.mapping_items(root))
