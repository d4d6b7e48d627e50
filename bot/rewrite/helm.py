"""Helm values: `image:` maps (`registry`, `repository`, `tag` | `digest`) at any depth.

Rule: with a `registry` key, the registry becomes the mirror's host and `repository` the rest of
the mirrored path; without one, `repository` becomes the whole mirrored name. `tag` and
`digest` are never touched. A map without a tag or digest is left alone (the chart's own
default, usually its appVersion, decides the tag, so the mirrored address cannot be known).
Plain `image: REF` strings in values are rewritten as in manifests.
"""

from __future__ import annotations

import yaml

from bot.rewrite import yamldoc
from bot.rewrite.model import Found, Ignored, Role, Scan, Span


def image_map(node: yaml.Node, text: str) -> Found | Ignored | None:
    """`image: {registry?, repository, tag | digest}`."""
    fields = dict(yamldoc.mapping_items(node))
    repository = fields.get("repository")
    repository_text = yamldoc.string_value(repository) if repository is not None else None
    if repository is None or not repository_text:
        return None
    registry = fields.get("registry")
    registry_text = yamldoc.string_value(registry) if registry is not None else None
    tag, digest = (_scalar_text(fields.get(key)) for key in ("tag", "digest"))
    texts = [repository_text, registry_text or "", tag, digest]
    if any(yamldoc.uses_variable(part) for part in texts):
        return None
    name = f"{registry_text}/{repository_text}" if registry_text else repository_text
    reference = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    line = repository.start_mark.line + 1
    if not tag and not digest:
        return Ignored(name, line, "has no tag or digest in these values (the chart's default "
                                   "decides); set the tag to rewrite it")
    spans = _spans(repository, registry, text)
    if spans is None:
        return Ignored(reference, line, "written as a block, folded or escaped scalar; "
                                        "rewrite it by hand")
    return Found(reference, line, spans)


def _scalar_text(node: yaml.Node | None) -> str:
    """A tag may be written `1.27` (a YAML number): its text is what the chart sees."""
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return node.value
    return ""


def _spans(repository: yaml.Node, registry: yaml.Node | None, text: str) -> tuple[Span, ...] | None:
    if registry is None or yamldoc.string_value(registry) is None:  # absent, or `registry:` null
        span = yamldoc.scalar_span(repository, text, Role.NAME)
        return (span,) if span else None
    registry_span = yamldoc.scalar_span(registry, text, Role.REGISTRY)
    repository_span = yamldoc.scalar_span(repository, text, Role.REPOSITORY)
    if registry_span is None or repository_span is None:
        return None
    return registry_span, repository_span


def find(text: str, name: str) -> Scan:
    roots = yamldoc.documents(text, name)
    results = yamldoc.scan_keys(roots, text, "image", (image_map, yamldoc.image_scalar))
    return Scan(tuple(r for r in results if isinstance(r, Found)),
                tuple(r for r in results if isinstance(r, Ignored)))
