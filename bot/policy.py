"""allowlist.yaml: load, validate, match and explain.

Rule: a reference is allowed when an `allow` pattern matches it and no `deny` pattern does
(deny wins). Patterns are `REGISTRY/PATH[:TAGGLOB]` written normalised; in PATH `*` is exactly
one component and `**` one or more. Every decision names the rule (file:line) that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bot import reference
from bot.errors import ConfigError
from bot.platform import InvalidPlatform, Platform
from bot.reference import Reference

KNOWN_KEYS = ("allow", "deny", "settings")
TAG_GLOB_RE = re.compile(r"[\w.*?\[\]!-]{1,128}\Z", re.ASCII)
SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\Z")
SIZE_UNITS = {
    None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}


@dataclass(frozen=True)
class Pattern:
    """One allow or deny entry."""

    text: str
    registry: str
    path: tuple[str, ...]
    tag_glob: str | None = None
    line: int | None = None
    source: str = "allowlist.yaml"

    @property
    def where(self) -> str:
        name = Path(self.source).name
        return f"{name}:{self.line}" if self.line else name

    @property
    def literal_repository(self) -> str | None:
        """`registry/path` when the pattern names exactly one repository."""
        if any(part in {"*", "**"} for part in self.path):
            return None
        return f"{self.registry}/{'/'.join(self.path)}"

    @cached_property
    def _path_regex(self) -> re.Pattern[str]:
        pieces = []
        for part in self.path:
            if part == "**":
                pieces.append(r"[^/]+(?:/[^/]+)*")
            elif part == "*":
                pieces.append(r"[^/]+")
            else:
                pieces.append(re.escape(part))
        return re.compile("/".join(pieces) + r"\Z")

    def matches_repository(self, ref: Reference) -> bool:
        """Matches the registry and path, whatever the tag."""
        return ref.registry == self.registry and bool(self._path_regex.match(ref.repository))

    def matches(self, ref: Reference) -> bool:
        if not self.matches_repository(ref):
            return False
        if self.tag_glob is None:
            return True
        return ref.tag is not None and fnmatchcase(ref.tag, self.tag_glob)

    def covers(self, other: Pattern) -> bool:
        """True when every reference `other` matches is matched by this pattern too."""
        if self.registry != other.registry or not _path_covers(self.path, other.path):
            return False
        if self.tag_glob is None:
            return True
        return other.tag_glob is not None and fnmatchcase(other.tag_glob, self.tag_glob)


def _path_covers(wide: tuple[str, ...], narrow: tuple[str, ...]) -> bool:
    if not wide:
        return not narrow
    head, rest = wide[0], wide[1:]
    if head == "**":
        return any(_path_covers(rest, narrow[n:]) for n in range(1, len(narrow) + 1))
    if not narrow or narrow[0] == "**":
        return False
    if head == "*" or head == narrow[0]:
        return _path_covers(rest, narrow[1:])
    return False


@dataclass(frozen=True)
class Settings:
    """Limits and site settings; every field has a safe default."""

    mirror_registry: str | None = None
    target_template: str | None = None
    max_images_per_issue: int = 10
    max_open_requests_per_user: int = 5
    platforms: tuple[Platform, ...] | None = None
    max_image_size: int | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    rule: Pattern | None = None


@dataclass(frozen=True)
class Allowlist:
    allow: tuple[Pattern, ...] = ()
    deny: tuple[Pattern, ...] = ()
    settings: Settings = field(default_factory=Settings)
    source: str = "allowlist.yaml"

    def decide(self, ref: Reference) -> Decision:
        for rule in self.deny:
            if rule.matches(ref):
                return Decision(False, f"denied by rule '{rule.text}' ({rule.where})", rule)
        for rule in self.allow:
            if rule.matches(ref):
                return Decision(True, f"allowed by rule '{rule.text}' ({rule.where})", rule)
        tag_rules = [r for r in self.allow if r.tag_glob and r.matches_repository(ref)]
        if tag_rules:
            globs = ", ".join(f"'{r.tag_glob}'" for r in tag_rules)
            return Decision(
                False,
                f"{ref.name} is allowlisted only for tags matching {globs} ({tag_rules[0].where})",
                tag_rules[0],
            )
        return Decision(False, f"{ref.name} is not in {Path(self.source).name}")

    def known_repositories(self) -> list[str]:
        return [r for r in (p.literal_repository for p in self.allow) if r]

    def platform_allowed(self, platform: Platform) -> bool:
        return self.settings.platforms is None or platform in self.settings.platforms


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str
    source: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}" if self.line else f"{self.source}: {self.message}"


def normalise_pattern(text: str) -> tuple[str, str, tuple[str, ...], str | None]:
    """Split and normalise a pattern; return (normalised text, registry, path, tag glob)."""
    if not text or any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ValueError("a pattern cannot be empty or contain whitespace")
    body, tag_glob = text, None
    last_slash, colon = text.rfind("/"), text.rfind(":")
    if colon > last_slash:
        body, tag_glob = text[:colon], text[colon + 1 :]
        if not TAG_GLOB_RE.match(tag_glob):
            raise ValueError(f"'{tag_glob}' is not a tag glob (tag characters plus * ? [ ])")
    first = body.partition("/")[0]
    registry, rest = reference.split_domain(body)
    has_domain = rest != body
    if has_domain and not reference.is_valid_domain(first):
        raise ValueError(f"'{first}' is not a valid registry host")
    path = rest.split("/")
    if not path or any(not part for part in path):
        raise ValueError("the path is empty or has an empty component ('//')")
    for part in path:
        if part in {"*", "**"}:
            continue
        if not reference.is_valid_path_component(part):
            hint = " (repository names are lowercase)" if part != part.lower() else ""
            raise ValueError(f"'{part}' is not a valid path component{hint}")
    if registry == reference.DEFAULT_REGISTRY and len(path) == 1 and path[0] != "**":
        path = [reference.OFFICIAL_NAMESPACE, *path]
    normalised = f"{registry}/{'/'.join(path)}" + (f":{tag_glob}" if tag_glob else "")
    return normalised, registry, tuple(path), tag_glob


def _parse_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = SIZE_RE.match(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a size (for example 5GiB or 500MB)")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])


def _check_settings(node: yaml.Node, source: str, problems: list[Problem]) -> Settings:
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(node.start_mark.line + 1, "'settings' must be a mapping", source))
        return Settings()
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        value = yaml.safe_load(yaml.serialize(value_node))
        try:
            values[key] = _setting_value(key, value)
        except ValueError as error:
            problems.append(Problem(line, f"settings.{key}: {error}", source))
    return Settings(**values)


def _setting_value(key: str, value: Any) -> Any:
    if key in {"max_images_per_issue", "max_open_requests_per_user"}:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError("must be a whole number of at least 1")
        return value
    if key == "max_image_size":
        return _parse_size(value)
    if key == "platforms":
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise ValueError("must be a list like [linux/amd64, linux/arm64]")
        try:
            return tuple(Platform.parse(p) for p in value)
        except InvalidPlatform as error:
            raise ValueError(str(error)) from error
    if key in {"mirror_registry", "target_template"}:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return value.strip()
    known = ", ".join(Settings.__dataclass_fields__)
    raise ValueError(f"unknown setting (known: {known})")


def _check_patterns(
    kind: str, node: yaml.Node, source: str, problems: list[Problem]
) -> list[Pattern]:
    if isinstance(node, yaml.ScalarNode) and node.value in {"", "null", "~"}:
        return []
    if not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(node.start_mark.line + 1, f"'{kind}' must be a list of patterns", source))
        return []
    patterns: list[Pattern] = []
    for item in node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.ScalarNode) or item.tag != "tag:yaml.org,2002:str":
            problems.append(Problem(
                line, f"{kind} entries must be strings like docker.io/library/nginx", source))
            continue
        text = item.value
        try:
            normalised, registry, path, tag_glob = normalise_pattern(text)
        except ValueError as error:
            problems.append(Problem(line, f"bad pattern '{text}': {error}", source))
            continue
        if normalised != text:
            problems.append(Problem(
                line, f"'{text}' is not written normalised; write '{normalised}'", source))
        patterns.append(Pattern(text, registry, path, tag_glob, line, source))
    return patterns


def _check_overlaps(kind: str, patterns: list[Pattern], problems: list[Problem]) -> None:
    for i, pattern in enumerate(patterns):
        for j, other in enumerate(patterns):
            if i == j or not other.covers(pattern):
                continue
            if other.text == pattern.text:
                if j < i:
                    problems.append(Problem(
                        pattern.line, f"duplicate {kind} entry '{pattern.text}' (first at line {other.line})",
                        pattern.source))
            elif not pattern.covers(other) or j < i:
                problems.append(Problem(
                    pattern.line,
                    f"{kind} entry '{pattern.text}' is shadowed by the wider '{other.text}' "
                    f"(line {other.line}); remove one of them",
                    pattern.source,
                ))
                break


def parse_allowlist(text: str, source: str = "allowlist.yaml") -> tuple[Allowlist, list[Problem]]:
    """Parse allowlist text; return the allowlist built from valid entries and every problem."""
    problems: list[Problem] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(error, "problem", None) or str(error)
        return Allowlist(source=source), [Problem(line, f"YAML error: {problem}", source)]
    if root is None:
        empty = Problem(None, "the file is empty; it needs an 'allow:' list", source)
        return Allowlist(source=source), [empty]
    if not isinstance(root, yaml.MappingNode):
        return Allowlist(source=source), [
            Problem(root.start_mark.line + 1, "the top level must be a mapping with 'allow:'", source)]
    sections: dict[str, yaml.Node] = {}
    for key_node, value_node in root.value:
        key = key_node.value
        if key not in KNOWN_KEYS:
            problems.append(Problem(key_node.start_mark.line + 1,
                                    f"unknown key '{key}' (known: {', '.join(KNOWN_KEYS)})", source))
        elif key in sections:
            problems.append(Problem(key_node.start_mark.line + 1, f"'{key}' appears twice", source))
        else:
            sections[key] = value_node
    if "allow" not in sections:
        problems.append(Problem(None, "missing the 'allow:' list", source))
    allow = _check_patterns("allow", sections["allow"], source, problems) if "allow" in sections else []
    deny = _check_patterns("deny", sections["deny"], source, problems) if "deny" in sections else []
    settings = (_check_settings(sections["settings"], source, problems)
                if "settings" in sections else Settings())
    _check_overlaps("allow", allow, problems)
    _check_overlaps("deny", deny, problems)
    problems.sort(key=lambda p: (p.line or 0, p.message))
    return Allowlist(tuple(allow), tuple(deny), settings, source), problems


def check_allowlist_file(path: Path) -> tuple[Allowlist, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Allowlist(source=str(path)), [Problem(None, f"cannot read: {error}", str(path))]
    return parse_allowlist(text, str(path))


def load_allowlist(path: Path) -> Allowlist:
    """Load a valid allowlist, or raise ConfigError listing every problem."""
    allowlist, problems = check_allowlist_file(path)
    if problems:
        raise ConfigError("invalid allowlist:\n" + "\n".join(str(p) for p in problems))
    return allowlist
