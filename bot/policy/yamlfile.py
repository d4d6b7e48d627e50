"""YAML configuration files read with their line numbers, for allowlist.yaml and subscriptions.yaml.

Rule: reading a configuration file never raises: an unreadable or undecodable file, a YAML
error, a document nested too deeply for Python, a key written twice or unknown — each is a
`Problem` naming the file and the line. The document is composed (not loaded) so that every
node keeps its line; libyaml's C composer is used when PyYAML has it (about 17 times faster).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STRING_TAG = "tag:yaml.org,2002:str"
NULL_VALUES = frozenset({"", "null", "Null", "NULL", "~"})
TOO_DEEP = "the document is nested too deeply"


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str
    source: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}" if self.line else f"{self.source}: {self.message}"


def clipped(text: str, limit: int = 80) -> str:
    """`text` for a problem's message: a pattern of megabytes is shown by its start."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def read_text(path: Path) -> tuple[str | None, Problem | None]:
    """The file's text, or the problem that keeps it from being read."""
    try:
        return path.read_text(encoding="utf-8"), None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        byte = error.object[error.start]
        return None, Problem(line, f"the file is not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8",
                             str(path))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return None, Problem(None, f"cannot read the file: {reason}", str(path))


def compose(text: str, source: str) -> tuple[yaml.Node | None, Problem | None]:
    """The document's root node (None for an empty document), or the YAML problem."""
    try:
        return yaml.compose(text, Loader=Loader), None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        line = mark.line + 1 if mark else None
        if "nesting depth" in problem:
            problem = TOO_DEEP
        return None, Problem(line, f"YAML error: {problem}", source)
    except RecursionError:
        return None, Problem(None, f"YAML error: {TOO_DEEP}", source)


def to_python(node: yaml.Node) -> Any:
    """The plain value of a node; ValueError when it is nested too deeply to build."""
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except RecursionError as error:
        raise ValueError(TOO_DEEP) from error
    except yaml.YAMLError as error:
        raise ValueError(getattr(error, "problem", None) or str(error).splitlines()[0]) from error


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag != STRING_TAG and node.value in NULL_VALUES


def is_string(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == STRING_TAG


def mapping_items(node: yaml.MappingNode, where: str, known: tuple[str, ...], source: str,
                  problems: list[Problem]) -> Iterator[tuple[str, yaml.Node, int]]:
    """(key, value node, key line) of a mapping's known keys, once each; the rest are problems."""
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        line = line_of(key_node)
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in known:
            shown = f"'{key}'" if key is not None else "a key that is not text"
            problems.append(Problem(line, f"{where}unknown key {shown} (known: {', '.join(known)})",
                                    source))
        elif key in seen:
            problems.append(Problem(line, f"{where}'{key}' appears twice (first at line {seen[key]})",
                                    source))
        else:
            seen[key] = line
            yield key, value_node, line


def top_level(text: str, source: str, known: tuple[str, ...], example: str,
              problems: list[Problem]) -> dict[str, tuple[yaml.Node, int]] | None:
    """The top-level sections of a document; None when there is no usable mapping."""
    root, problem = compose(text, source)
    if problem:
        problems.append(problem)
        return None
    if root is None or is_null(root):
        problems.append(Problem(None, f"the file is empty; it needs {example}", source))
        return None
    if not isinstance(root, yaml.MappingNode):
        problems.append(Problem(line_of(root), f"the top level must be a mapping with {example}", source))
        return None
    return {key: (value, line) for key, value, line in mapping_items(root, "", known, source, problems)}
