"""subscriptions.yaml: which upstream tags `mirror-bot follow` keeps mirrored.

Rule: the file is `subscriptions:`, a list of `{image, tags}`; `image` is a repository written
normalised as in the allowlist (`docker.io/library/nginx`, no tag, no wildcard) and `tags`
holds at least one of `semver`, `match`, `regex`, `latest`, `include` (`bot.policy.tags` says what
each chooses). Only known keys; every problem is `file:line: problem`, never a traceback, and a
file with any problem is refused whole. The allowlist still applies to every chosen tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError, InvalidReference
from bot.image import reference
from bot.image.reference import Reference
from bot.policy.tags import TagRules, check_glob, check_range, check_regex, check_tag
from bot.policy.yamlfile import (
    Problem,
    clipped,
    is_null,
    is_string,
    line_of,
    mapping_items,
    read_text,
    to_python,
    top_level,
)

ENTRY_KEYS = ("image", "tags")
EXAMPLE = "a 'subscriptions:' list"


@dataclass(frozen=True)
class Subscription:
    registry: str
    repository: str
    rules: TagRules
    line: int | None = None
    source: str = "subscriptions.yaml"

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def reference(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag)


def _text(node: yaml.Node) -> str:
    """A scalar as written: `1.27` stays the text 1.27, not the number YAML would make of it."""
    if not isinstance(node, yaml.ScalarNode):
        raise ValueError("must be text")
    return str(node.value)


def _latest(node: yaml.Node) -> int:
    value = to_python(node)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _include(node: yaml.Node) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise ValueError("must be a list of tags, e.g. [mainline, stable]")
    return tuple(check_tag(_text(item)) for item in node.value)


def _regex(node: yaml.Node) -> str:
    text = _text(node)
    check_regex(text)
    return text


def _string(node: yaml.Node) -> str:
    """A value that must be written as text: `match: 5` or `semver: 8` is a number in YAML, and
    most likely not what was meant (`'5*'`? `'>=8'`?), so it is refused rather than read."""
    if not isinstance(node, yaml.ScalarNode):
        raise ValueError("must be text, e.g. '1.*'")
    if not is_string(node):
        raise ValueError(f"{clipped(node.value)} is not text to YAML; write it in quotes if you "
                         f"meant it, e.g. '{clipped(node.value)}'")
    return str(node.value)


RULES: dict[str, Callable[[yaml.Node], Any]] = {
    "semver": lambda node: check_range(_string(node)),
    "match": lambda node: check_glob(_string(node)),
    "regex": _regex,
    "latest": _latest,
    "include": _include,
}


def _image(node: yaml.Node) -> tuple[str, str]:
    """(registry, repository) of a normalised repository name; ValueError otherwise."""
    if not is_string(node):
        raise ValueError("must be a repository such as docker.io/library/nginx")
    text = node.value
    if any(c in text for c in "*?[") or "@" in text or ":" in text.rpartition("/")[2]:
        raise ValueError(f"'{text}' must name one repository, without wildcards, tag or digest")
    try:
        parsed = reference.parse_name(text)
    except InvalidReference as error:
        raise ValueError(f"'{text}' is {error.reason}" if error.reason.startswith("not written")
                         else f"'{text}' is not a repository: {error.reason}") from error
    return parsed.registry, parsed.repository


def _rules(node: yaml.Node, source: str, problems: list[Problem]) -> TagRules | None:
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(line_of(node), f"'tags' must be a mapping of rules ({', '.join(RULES)})",
                                source))
        return None
    values: dict[str, Any] = {}
    known_before = len(problems)
    for key, value_node, line in mapping_items(node, "tags: ", tuple(RULES), source, problems):
        try:
            values[key] = RULES[key](value_node)
        except ValueError as error:
            problems.append(Problem(line, f"tags.{key}: {error}", source))
    if len(problems) > known_before:
        return None
    if not values:
        problems.append(Problem(line_of(node), f"'tags' needs at least one of {', '.join(RULES)}",
                                source))
        return None
    return TagRules(**values)


def _subscription(node: yaml.Node, source: str, problems: list[Problem]) -> Subscription | None:
    line = line_of(node)
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(line, "each subscription must be a mapping with 'image' and 'tags'",
                                source))
        return None
    known_before = len(problems)
    fields = {key: (value, key_line) for key, value, key_line
              in mapping_items(node, "", ENTRY_KEYS, source, problems)}
    for missing in (key for key in ENTRY_KEYS if key not in fields):
        problems.append(Problem(line, f"missing '{missing}' (each subscription has 'image' and 'tags')",
                                source))
    image = rules = None
    if "image" in fields:
        try:
            image = _image(fields["image"][0])
        except ValueError as error:
            problems.append(Problem(fields["image"][1], f"image: {error}", source))
    if "tags" in fields:
        rules = _rules(fields["tags"][0], source, problems)
    if image is None or rules is None or len(problems) > known_before:
        return None
    return Subscription(*image, rules, line, source)


def parse_subscriptions(text: str, source: str = "subscriptions.yaml"
                        ) -> tuple[list[Subscription], list[Problem]]:
    """The valid subscriptions of a file, and every problem in it."""
    problems: list[Problem] = []
    sections = top_level(text, source, ("subscriptions",), EXAMPLE, problems)
    if sections is None:
        return [], problems
    if "subscriptions" not in sections:
        problems.append(Problem(None, "missing the 'subscriptions:' list", source))
        return [], problems
    node, line = sections["subscriptions"]
    if is_null(node):
        return [], problems
    if not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(line, "'subscriptions' must be a list", source))
        return [], problems
    found = [_subscription(item, source, problems) for item in node.value]
    problems.sort(key=lambda p: (p.line or 0, p.message))
    return [s for s in found if s is not None], problems


def check_subscriptions_file(path: Path) -> tuple[list[Subscription], list[Problem]]:
    """Every problem of the file, unreadable or undecodable included (for the PR check)."""
    text, problem = read_text(path)
    if problem:
        return [], [problem]
    return parse_subscriptions(text or "", str(path))


def load_subscriptions(path: Path) -> list[Subscription]:
    """The subscriptions of a valid file, or ConfigError naming its first problem."""
    subscriptions, problems = check_subscriptions_file(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"invalid subscriptions: {problems[0]}{more}; fix the file")
    return subscriptions
