"""allowlist.yaml: load it for a run, or check it whole for `check-allowlist`.

Rule: loading validates what a run relies on — the YAML, every pattern written normalised,
every setting (the mirror and the naming template included) — in time linear in the file, and
refuses the file on any problem. Checking adds what only a maintainer needs to hear: entries
that repeat or are shadowed by a wider one. Both report `file:line: problem`, never a traceback.
Patterns and matching live in `bot.policy.allowlist`, the settings schema in `bot.policy.settings`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.errors import ConfigError
from bot.policy.allowlist import Allowlist, Pattern, PatternIndex, normalise_pattern
from bot.policy.settings import Settings, parse_settings
from bot.policy.yamlfile import Problem, clipped, is_null, is_string, line_of, read_text, top_level

KNOWN_KEYS = ("allow", "deny", "settings")
EXAMPLE = "an 'allow:' list"


def _patterns(kind: str, node: yaml.Node, source: str, problems: list[Problem]) -> list[Pattern]:
    if is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(line_of(node), f"'{kind}' must be a list of patterns", source))
        return []
    patterns: list[Pattern] = []
    for item in node.value:
        line = item.start_mark.line + 1
        if not is_string(item):
            problems.append(Problem(
                line, f"{kind} entries must be strings like docker.io/library/nginx", source))
            continue
        text = item.value
        try:
            normalised, registry, path, tag_glob = normalise_pattern(text)
        except ValueError as error:
            problems.append(Problem(line, f"bad pattern '{clipped(text)}': {error}", source))
            continue
        if normalised != text:
            problems.append(Problem(
                line, f"'{text}' is not written normalised; write '{normalised}'", source))
        patterns.append(Pattern(text, registry, path, tag_glob, line, source,
                                ignore_case=kind == "deny"))
    return patterns


def parse_allowlist(text: str, source: str = "allowlist.yaml") -> tuple[Allowlist, list[Problem]]:
    """Parse allowlist text; return the allowlist built from valid entries and every problem
    a run must refuse (overlaps are `check_allowlist_text`'s)."""
    problems: list[Problem] = []
    sections = top_level(text, source, KNOWN_KEYS, EXAMPLE, problems)
    if sections is None:
        return Allowlist(source=source), problems
    if "allow" not in sections:
        problems.append(Problem(None, "missing the 'allow:' list", source))
    allow = _patterns("allow", sections["allow"][0], source, problems) if "allow" in sections else []
    deny = _patterns("deny", sections["deny"][0], source, problems) if "deny" in sections else []
    settings = (parse_settings(sections["settings"][0], source, problems)
                if "settings" in sections else Settings())
    problems.sort(key=lambda p: (p.line or 0, p.message))
    return Allowlist(tuple(allow), tuple(deny), settings, source), problems


def overlap_problems(kind: str, patterns: tuple[Pattern, ...]) -> list[Problem]:
    """At most one problem per entry: written twice, or shadowed by the first (in file order)
    entry of the same list that covers it and is wider, or equivalent and earlier.

    Each entry is compared only with the entries of the index buckets that could cover it, so
    checking 100,000 entries stays far from the n² comparisons of every pair.
    """
    index = PatternIndex(patterns)
    first_at: dict[str, Pattern] = {}
    problems = []
    for position, pattern in enumerate(patterns):
        first = first_at.setdefault(pattern.text, pattern)
        if first is not pattern:
            problems.append(Problem(pattern.line, f"duplicate {kind} entry '{pattern.text}' "
                                    f"(first at line {first.line})", pattern.source))
            continue
        wider = [(other_position, other) for other_position, other in index.covering(pattern)
                 if other.text != pattern.text
                 and (other_position < position or not pattern.covers(other))]
        if wider:
            other = min(wider, key=lambda entry: entry[0])[1]
            problems.append(Problem(
                pattern.line,
                f"{kind} entry '{pattern.text}' is shadowed by the wider '{other.text}' "
                f"(line {other.line}); remove one of them",
                pattern.source,
            ))
    return problems


def check_allowlist_text(text: str, source: str = "allowlist.yaml") -> tuple[Allowlist, list[Problem]]:
    """Everything `parse_allowlist` refuses, plus repeated and shadowed entries."""
    allowlist, problems = parse_allowlist(text, source)
    problems += overlap_problems("allow", allowlist.allow)
    problems += overlap_problems("deny", allowlist.deny)
    problems.sort(key=lambda p: (p.line or 0, p.message))
    return allowlist, problems


def check_allowlist_file(path: Path) -> tuple[Allowlist, list[Problem]]:
    """`check-allowlist`: every problem of the file, unreadable or undecodable included."""
    text, problem = read_text(path)
    if problem:
        return Allowlist(source=str(path)), [problem]
    return check_allowlist_text(text or "", str(path))


def load_allowlist(path: Path) -> Allowlist:
    """Load a valid allowlist for a run, or raise ConfigError naming its first problem."""
    text, problem = read_text(path)
    allowlist, problems = (Allowlist(), [problem]) if problem else parse_allowlist(text or "", str(path))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"invalid allowlist: {problems[0]}{more}; "
                          f"run 'mirror-bot check-allowlist {path}' and fix the file")
    return allowlist
