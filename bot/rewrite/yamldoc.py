"""YAML read for rewriting: the node tree with character positions, never re-dumped.

Rule: documents are composed, not constructed, so every node's marks give character offsets
into the text (libyaml's composer when present, which is seven times faster than PyYAML's own
and gives the same offsets except that it does not count a byte-order mark: a text that starts
with one is read by the pure-Python composer). A scalar is rewritable only when the text between
its marks is exactly its value (plain), or its value between one pair of quotes (single or
double, no escapes): anything else (block scalars, folded lines, escapes) is reported, never
guessed at. Anchors shared through aliases are visited once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import yaml

from bot.rewrite.model import Found, Ignored, RewriteError, Role, Span

STRING_TAG = "tag:yaml.org,2002:str"
BOM = "\ufeff"
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PROPERTIES_RE = re.compile(r"(?:[&!][^\s]*\s+)*")  # anchor and tag before a value
Rule = Callable[[yaml.Node, str], Found | Ignored | None]


def documents(text: str, name: str) -> list[yaml.Node]:
    """Every document's root node; a YAML error names the file and line."""
    loader = yaml.SafeLoader if text.startswith(BOM) else FAST_LOADER
    try:
        return [root for root in yaml.compose_all(text, Loader=loader) if root is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RewriteError(f"{where}: invalid YAML: {problem}; fix it and run rewrite again") from error


def mapping_items(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    """(key, value) of a mapping's scalar keys; nothing for any other node."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(key.value, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)]


def values_under_key(roots: list[yaml.Node], key: str) -> Iterator[yaml.Node]:
    """Every value of a `key:` entry at any depth, each node once (aliases and cycles too)."""
    visited: set[int] = set()
    yielded: set[int] = set()
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [value for _, value in node.value]
            for name, value in mapping_items(node):
                if name == key and id(value) not in yielded:
                    yielded.add(id(value))
                    yield value
        stack.extend(reversed(children))


def string_value(node: yaml.Node) -> str | None:
    """The value of a string scalar, else None (numbers, nulls, maps, lists)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == STRING_TAG:
        return node.value
    return None


def scalar_span(node: yaml.Node, text: str, role: Role) -> Span | None:
    """Where the scalar's own characters lie, or None when they are not written verbatim (or
    the node is no scalar).

    The node's marks also cover an anchor or tag written before the value (`&img nginx`).
    """
    if not isinstance(node, yaml.ScalarNode):
        return None
    quote = {"'": 1, '"': 1, None: 0, "": 0}.get(node.style)  # plain is None, or "" from libyaml
    if quote is None:
        return None
    end = node.end_mark.index - quote
    start = end - len(node.value)
    if text[start:end] != node.value or text[start - quote:start] != text[end:end + quote]:
        return None
    if not PROPERTIES_RE.fullmatch(text, node.start_mark.index, start - quote):
        return None
    return Span(start, end, role)


def uses_variable(value: str) -> bool:
    """`$VAR`, `${VAR}`, `$(VAR)` or a template `{{ }}`: filled in later by another tool."""
    return "$" in value or "{{" in value


def image_scalar(node: yaml.Node, text: str) -> Found | Ignored | None:
    """`image: REF` where the value is a string."""
    value = string_value(node)
    if not value or uses_variable(value):
        return None
    line = node.start_mark.line + 1
    span = scalar_span(node, text, Role.REFERENCE)
    if span is None:
        return Ignored(value, line, "written as a block, folded or escaped scalar; rewrite it by hand")
    return Found(value, line, (span,))


def scan_keys(roots: list[yaml.Node], text: str, key: str, rules: tuple[Rule, ...]) -> list[Found | Ignored]:
    """Apply the first matching rule to every value of `key:` at any depth."""
    results: list[Found | Ignored] = []
    for value in values_under_key(roots, key):
        for rule in rules:
            result = rule(value, text)
            if result is not None:
                results.append(result)
                break
    return results
