"""YAML read for rewriting: the node tree with character positions, never re-dumped.

Rule: documents are composed, not constructed, so every node's marks give character offsets
into the text (libyaml's composer when present, which is seven times faster than PyYAML's own
and gives the same offsets except that it does not count a byte-order mark: a text that starts
with one is read by the pure-Python composer). A scalar is rewritable only when the text between
its marks is exactly its value (plain), or its value between one pair of quotes (single or
double, no escapes): anything else (block scalars, folded lines, escapes) is left and named,
never guessed at. Nesting deeper than the composers can follow is refused in one line (libyaml
stops at 1,000 levels, the pure-Python composer at Python's recursion limit). Lines are counted
as YAML counts them, so a `# mirror-bot: ignore` comment is matched to the line the parser
reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from bot.rewrite.model import Found, Left, RewriteError, Role, Span, is_marked

STRING_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
BOM = "\ufeff"
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PROPERTIES_RE = re.compile(r"(?:[&!][^\s]*\s+)*")  # anchor and tag before a value
LINE_BREAK_RE = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # the breaks PyYAML counts
LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"

VARIABLE = "a variable or template: its value is known only when the file is used"
NOT_VERBATIM = "written as a block, folded or escaped scalar: rewrite it by hand"


def too_deep(name: str) -> RewriteError:
    return RewriteError(f"{name}: nested too deep to read safely; nothing was changed")


def documents(text: str, name: str) -> list[yaml.Node]:
    """Every document's root node; a YAML error names the file and line."""
    loader = yaml.SafeLoader if text.startswith(BOM) else FAST_LOADER
    try:
        return [root for root in yaml.compose_all(text, Loader=loader) if root is not None]
    except RecursionError:
        raise too_deep(name) from None
    except yaml.YAMLError as error:
        if LIBYAML_TOO_DEEP in str(error):
            raise too_deep(name) from None
        mark = getattr(error, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RewriteError(f"{where}: invalid YAML: {problem}; fix it and run rewrite again") from error


@dataclass(frozen=True)
class Marks:
    """The 1-based lines of a text that carry `# mirror-bot: ignore`."""

    lines: frozenset[int]

    @classmethod
    def of(cls, text: str) -> Marks:
        if "mirror-bot" not in text:
            return cls(frozenset())
        return cls(frozenset(number for number, line in enumerate(LINE_BREAK_RE.split(text), start=1)
                             if is_marked(line)))

    def any_between(self, first: int, last: int) -> bool:
        return any(first <= line <= last for line in self.lines)


def mapping_items(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    """(key, value) of a mapping's scalar keys; nothing for any other node."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(key.value, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)]


def string_value(node: yaml.Node | None) -> str | None:
    """The value of a string scalar, else None (numbers, nulls, maps, lists)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == STRING_TAG:
        return node.value
    return None


def scalar_text(node: yaml.Node | None) -> str:
    """A scalar's text whatever its type (a tag may be written `1.27`, a YAML number: its text
    is what the chart sees); "" for null, absent, or not a scalar."""
    if isinstance(node, yaml.ScalarNode) and node.tag != NULL_TAG:
        return node.value
    return ""


def first_line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def last_line(node: yaml.Node) -> int:
    """The last line holding the node's own text (a collection's end mark may lie lines later,
    past the comments that follow it)."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    end = node.end_mark
    return end.line + (0 if end.column or end.line == node.start_mark.line else -1) + 1


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


def image_scalar(node: yaml.Node, text: str, marked: bool) -> Found | Left | None:
    """`image: REF` where the value is a non-empty string; None for anything else."""
    value = string_value(node)
    if not value:
        return None
    line = first_line(node)
    if uses_variable(value):
        return Left(value, line, VARIABLE, marked)
    span = scalar_span(node, text, Role.REFERENCE)
    if span is None:
        return Left(value, line, NOT_VERBATIM, marked)
    return Found(value, line, (span,), marked)
