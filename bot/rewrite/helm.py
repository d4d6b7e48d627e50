"""Helm values, and the `image:` keys of any YAML: blocks as charts read them, and strings.

Rule: a block is a map naming an image by `repository` (or by `image` beside `registry`, `tag`,
`digest` or `sha`, as ingress-nginx writes it), with `registry`, `tag`, `digest` or `sha`
(kube-prometheus-stack's hex digest, which the chart writes after `@sha256:`) beside it, or any
such map under a key that names an image (`image`, `thanosImage`). A block is rewritten only when
the address the chart builds from it is exactly known and the mirrored one can be written the
same way: `registry` becomes the mirror's host and `repository` (or `image`) the rest of the
mirrored path; without a `registry` key, `repository` becomes the whole mirrored name. `tag`,
`digest` and `sha` are never touched. Everything else is left and named, never guessed:

- a global registry (`global.imageRegistry`, `global.image.registry`, non-empty) decides the
  registry of every image under the map that holds it, and it is never rewritten (it also moves
  images the file does not name), so its blocks and strings are left;
- a tag the chart supplies (no `tag` and no digest in the values);
- a registry the chart supplies (an `image:` name without `registry`, or a `repository` without
  a host while other blocks of the file have a `registry` key);
- a variant switch that is on (`chroot: true`: the chart pulls another image), both
  `repository` and `image`, both `digest` and `sha`, a template or variable in any part.

In Helm values an `image: REF` string without a tag is left too (the chart may append one); in
manifests (`strings_mean_latest`) it means `:latest` and is rewritten. `# mirror-bot: ignore` at
the end of any line of a block, or of a string's line, marks it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import yaml

from bot.image.grammar import IMAGE_ID_RE
from bot.rewrite import yamldoc
from bot.rewrite.model import Found, Left, Role, Scan, Span, has_tag_or_digest, scan_of
from bot.rewrite.yamldoc import NOT_VERBATIM, VARIABLE, Marks

ADDRESS_KEYS = ("registry", "tag", "digest", "sha")
NAME_KEYS = ("repository", "image")
VARIANT_SWITCHES = ("chroot",)  # ingress-nginx: `-chroot` appended to the name, digestChroot used
IMAGE_KEY_RE = re.compile(r"image", re.IGNORECASE)
TRUE_WORDS = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})


@dataclass(frozen=True)
class GlobalRegistry:
    """A non-empty global registry and the map whose images it decides."""

    path: str  # `global.imageRegistry` or `global.image.registry`
    line: int
    value: str

    def reason(self, beside: bool) -> str:
        """Why an image under it is left; `beside`: the image also names a registry itself."""
        decides = "may replace its registry" if beside else "gives its registry"
        return (f"{self.path} (line {self.line}) {decides}, and is never rewritten: it also moves "
                "images these values do not name; point both at the mirror by hand")


@dataclass(frozen=True)
class Block:
    node: yaml.MappingNode
    fields: dict[str, yaml.Node]
    scope: GlobalRegistry | None
    marked: bool


@dataclass(frozen=True)
class Text:
    """An image reference written as one string: `image: REF` and the like."""

    node: yaml.Node
    scope: GlobalRegistry | None
    marked: bool


# A rule for other strings that are image references: (map's items, key it sits under) -> nodes
Extra = Callable[[list[tuple[str, yaml.Node]], str | None], list[yaml.Node]]


def find_references(roots: list[yaml.Node], text: str, *, strings_mean_latest: bool,
                    extra: Extra | None = None) -> list[Found | Left]:
    """Every image block and `image:` string under `roots`, each node once."""
    marks = Marks.of(text)
    blocks, strings = _collect(roots, marks, extra)
    # A chart whose values have `registry` keys may put its default registry before a name
    # written without one; the key's presence, not its value, so a rewrite cannot change it.
    split_registries = any("registry" in block.fields for block in blocks)
    results: list[Found | Left | None] = [
        _block(block, text, split_registries) for block in blocks]
    results += [_string(item, text, strings_mean_latest) for item in strings]
    return [result for result in results if result is not None]


def _collect(roots: list[yaml.Node], marks: Marks, extra: Extra | None) -> tuple[list[Block], list[Text]]:
    blocks: list[Block] = []
    strings: list[Text] = []
    visited: set[int] = set()
    # (node, the global registry in force, the key the node sits under, that key's line)
    stack: list[tuple[yaml.Node, GlobalRegistry | None, str | None, int]] = [
        (root, None, None, yamldoc.first_line(root)) for root in reversed(roots)]
    while stack:
        node, scope, under, key_line = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, scope, under, yamldoc.first_line(item)) for item in reversed(node.value))
            continue
        if not isinstance(node, yaml.MappingNode):
            continue
        items = yamldoc.mapping_items(node)
        scope = _global_registry(items) or scope
        fields = dict(items)
        key_lines = {key.value: yamldoc.first_line(key) for key, _ in node.value
                     if isinstance(key, yaml.ScalarNode)}
        own: tuple[str, ...] = ()
        if _is_block(fields, under):
            marked = marks.any_between(key_line, yamldoc.last_line(node))
            blocks.append(Block(node, fields, scope, marked))
            own = NAME_KEYS + ADDRESS_KEYS
        elif "image" in fields and isinstance(fields["image"], yaml.ScalarNode):
            own = ("image",)
            if id(fields["image"]) not in visited:  # an alias names the same text again
                visited.add(id(fields["image"]))
                strings.append(_text(fields["image"], key_lines["image"], scope, marks))
        for value in extra(items, under) if extra else []:
            if id(value) not in visited:
                visited.add(id(value))
                strings.append(_text(value, yamldoc.first_line(value), scope, marks))
        stack.extend(reversed([(value, scope, key, key_lines[key]) for key, value in items
                               if key not in own]))
    return blocks, strings


def _text(node: yaml.Node, key_line: int, scope: GlobalRegistry | None, marks: Marks) -> Text:
    return Text(node, scope, marks.any_between(key_line, yamldoc.last_line(node)))


def _is_block(fields: dict[str, yaml.Node], under: str | None) -> bool:
    repository = yamldoc.string_value(fields.get("repository"))
    image = yamldoc.string_value(fields.get("image"))
    beside = any(key in fields for key in ADDRESS_KEYS)
    if repository is not None and (beside or (under is not None and IMAGE_KEY_RE.search(under))):
        return bool(repository) or bool(image)
    return image is not None and bool(image) and beside


def _global_registry(items: list[tuple[str, yaml.Node]]) -> GlobalRegistry | None:
    """`global.imageRegistry` or `global.image.registry` of this map, when set."""
    for key, value in items:
        if key != "global":
            continue
        fields = dict(yamldoc.mapping_items(value))
        candidates = [("global.imageRegistry", fields.get("imageRegistry"))]
        image = fields.get("image")
        if image is not None:
            candidates.append(("global.image.registry", dict(yamldoc.mapping_items(image)).get("registry")))
        for path, node in candidates:
            registry = yamldoc.string_value(node)
            if node is not None and registry:
                return GlobalRegistry(path, yamldoc.first_line(node), registry)
    return None


@dataclass(frozen=True)
class Parts:
    """A block's address parts as the chart reads them ("" when absent or null)."""

    repository: str
    image: str
    registry: str | None  # None: no `registry` key (or null); "" says "no registry"
    tag: str
    digest: str
    sha: str

    @classmethod
    def of(cls, fields: dict[str, yaml.Node]) -> Parts:
        repository, image = (yamldoc.string_value(fields.get(key)) or "" for key in NAME_KEYS)
        tag, digest, sha = (yamldoc.scalar_text(fields.get(key)) for key in ("tag", "digest", "sha"))
        return cls(repository, image, yamldoc.string_value(fields.get("registry")), tag, digest, sha)

    def written(self, registry: str | None) -> str:
        """The reference the chart builds, with `registry` before the name."""
        name = self.repository or self.image
        text = (f"{registry}/{name}" if registry else name) + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else f"@sha256:{self.sha}" if self.sha else "")

    def problems(self, fields: dict[str, yaml.Node]) -> Iterator[str]:
        """Why the address the chart builds from this block cannot be known exactly."""
        parts = (self.repository, self.image, self.registry or "", self.tag, self.digest, self.sha)
        if any(yamldoc.uses_variable(part) for part in parts):
            yield VARIABLE
        if self.repository and self.image:
            yield ("both repository and image are set: which one the chart uses is not known; "
                   "keep one")
        if self.digest and self.sha:
            yield "both digest and sha are set: which one the chart uses is not known; keep one"
        if "registry" in fields and self.registry is None and yamldoc.scalar_text(fields["registry"]):
            yield "registry is not a string: how the chart reads it is not known"
        if self.sha and not IMAGE_ID_RE.match(self.sha):
            yield "sha is not the 64 hexadecimal digits the chart writes after @sha256:"
        for switch in VARIANT_SWITCHES:
            if yamldoc.scalar_text(fields.get(switch)) in TRUE_WORDS:
                yield f"{switch} is on: the chart pulls another image than these values name"


def _block(block: Block, text: str, split_registries: bool) -> Found | Left | None:
    fields, parts = block.fields, Parts.of(block.fields)
    if not parts.repository and not parts.image:
        return None
    name_key = "repository" if parts.repository else "image"
    name_node = fields[name_key]
    line = yamldoc.first_line(name_node)
    written = parts.written(block.scope.value if block.scope else parts.registry)

    def left(reason: str) -> Left:
        return Left(written, line, reason, block.marked)

    for problem in parts.problems(fields):
        return left(problem)
    if block.scope is not None:
        return left(block.scope.reason(bool(parts.registry)))
    if not parts.tag and not parts.digest and not parts.sha:
        return left("no tag in these values: the chart supplies it (often its appVersion); set "
                    "tag to rewrite it")
    if parts.registry is None and name_key == "image":
        return left("no registry beside it: the chart puts its own before it, so the address is "
                    "not known here; set registry to rewrite it")
    if parts.registry is None and split_registries and not _has_host(parts.repository):
        return left("no registry beside it while other images here have one: the chart may "
                    "supply its own; set registry to rewrite it")
    spans = _spans(name_node, fields["registry"] if parts.registry is not None else None, text)
    if spans is None:
        return left(NOT_VERBATIM)
    return Found(written, line, spans, block.marked)


def _has_host(name: str) -> bool:
    """`quay.io/x`, `localhost:5000/x`: the first component names a registry."""
    first, slash, _ = name.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _spans(name: yaml.Node, registry: yaml.Node | None, text: str) -> tuple[Span, ...] | None:
    if registry is None:
        span = yamldoc.scalar_span(name, text, Role.NAME)
        return (span,) if span else None
    registry_span = yamldoc.scalar_span(registry, text, Role.REGISTRY)
    name_span = yamldoc.scalar_span(name, text, Role.REPOSITORY)
    if registry_span is None or name_span is None:
        return None
    return registry_span, name_span


def _string(item: Text, text: str, strings_mean_latest: bool) -> Found | Left | None:
    result = yamldoc.image_scalar(item.node, text, item.marked)
    if not isinstance(result, Found):
        return result
    if item.scope is not None:
        return Left(result.text, result.line, item.scope.reason(_has_host(result.text)), item.marked)
    if not strings_mean_latest and not has_tag_or_digest(result.text):
        return Left(result.text, result.line, "no tag: the chart may append its own; write the tag "
                                              "to rewrite it", item.marked)
    return result


def find(text: str, name: str) -> Scan:
    roots = yamldoc.documents(text, name)
    return scan_of(find_references(roots, text, strings_mean_latest=False))
