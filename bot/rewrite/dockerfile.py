"""Dockerfiles and Containerfiles: `FROM [--platform=…] REF [AS name]`, `COPY --from=REF` and
`RUN --mount=…,from=REF`.

Rule: instructions are read as BuildKit reads them (parser directives such as `# escape=`,
line continuations, comment lines, heredoc bodies skipped), and only the reference token is
replaced. Stage names (case-insensitive), `scratch` and stage numbers are no images. When a FROM
is exactly `$NAME` or `${NAME}`, the default of a global `ARG NAME=REF` (one before the first
FROM, the only ones FROM can see) is the reference; any other use of a build argument is known
only at build time, so it is left and named. A `# mirror-bot: ignore` comment on the line
directly above an instruction marks its reference (a `#` after `FROM golang:1.22` would be an
argument, and the build would fail); for a reference held by an `ARG`, above the `ARG` or above
a FROM that uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.rewrite.model import Found, Left, Role, Scan, Span, is_marked, line_of, scan_of

DIRECTIVE_RE = re.compile(r"#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(\S+)[ \t]*\Z")
HEREDOC_RE = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
TOKEN_RE = re.compile(r"\S+")
VARIABLE_RE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})\Z")
ARGUMENT_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
QUOTES = ('"', "'")
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


@dataclass(frozen=True)
class Token:
    text: str
    start: int


@dataclass(frozen=True)
class Instruction:
    tokens: tuple[Token, ...]  # never empty
    marked: bool  # `# mirror-bot: ignore` on the line directly above

    @property
    def keyword(self) -> str:
        return self.tokens[0].text.upper()


def _escape_character(lines: list[str]) -> str:
    """`# escape=`` ` among the parser directives at the very top (default backslash)."""
    for line in lines:
        directive = DIRECTIVE_RE.match(line.rstrip("\r\n"))
        if not directive:
            break
        if directive[1].lower() == "escape" and directive[2] in {"\\", "`"}:
            return directive[2]
    return "\\"


def _instructions(text: str) -> list[Instruction]:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    escape = _escape_character(lines)
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        if not lines[index].strip() or lines[index].lstrip().startswith("#"):
            index += 1
            continue
        marked = index > 0 and lines[index - 1].lstrip().startswith("#") and is_marked(lines[index - 1])
        tokens, index = _logical_line(lines, offsets, index, escape)
        if not tokens:
            continue  # a lone escape character
        instruction = Instruction(tokens, marked)
        if instruction.keyword in HEREDOC_INSTRUCTIONS:
            index = _skip_heredocs(lines, index, " ".join(t.text for t in tokens))
        instructions.append(instruction)
    return instructions


def _logical_line(lines: list[str], offsets: list[int], index: int,
                  escape: str) -> tuple[tuple[Token, ...], int]:
    """The tokens of one instruction, with offsets into the text, and the next line's index."""
    tokens: list[Token] = []
    first = True
    while index < len(lines):
        line = lines[index].rstrip("\r\n")
        index += 1
        if not first and (not line.strip() or line.lstrip().startswith("#")):
            continue  # blank and comment lines inside a continued instruction are dropped
        first = False
        content = line.rstrip(" \t")
        continued = content.endswith(escape)
        if continued:
            content = content[:-1]
        tokens += [Token(m[0], offsets[index - 1] + m.start()) for m in TOKEN_RE.finditer(content)]
        if not continued:
            break
    return tuple(tokens), index


def _skip_heredocs(lines: list[str], index: int, instruction: str) -> int:
    for strip_tabs, _, terminator in HEREDOC_RE.findall(instruction):
        while index < len(lines):
            line = lines[index].rstrip("\r\n")
            index += 1
            if (line.lstrip("\t") if strip_tabs else line) == terminator:
                break
    return index


def _is_stage(text: str, stages: set[str]) -> bool:
    lowered = text.lower()
    return lowered == "scratch" or lowered in stages or text.isdigit()


@dataclass(frozen=True)
class Default:
    """A global `ARG NAME=VALUE`'s value, and whether that ARG is marked."""

    token: Token
    marked: bool


def find(text: str, name: str) -> Scan:
    del name  # a Dockerfile has no syntax errors that stop a rewrite
    results: list[Found | Left] = []
    stages: set[str] = set()
    defaults: dict[str, Default] = {}  # global ARG name -> its default value
    global_scope = True
    for instruction in _instructions(text):
        arguments = instruction.tokens[1:]
        if instruction.keyword == "ARG" and global_scope:
            defaults.update({key: Default(token, instruction.marked)
                             for key, token in _arg_defaults(arguments).items()})
        elif instruction.keyword == "FROM":
            global_scope = False
            rest = [token for token in arguments if not token.text.startswith("--")]
            if rest:
                results += _from_image(rest[0], instruction.marked, defaults, stages, text)
            if len(rest) >= 3 and rest[1].text.lower() == "as":
                stages.add(rest[2].text.lower())
        elif instruction.keyword in {"COPY", "RUN"}:
            for token, offset in _from_options(instruction.keyword, arguments):
                results += _reference(token, offset, stages, text, marked=instruction.marked)
    return _merge(results)


def _from_options(keyword: str, arguments: tuple[Token, ...]) -> list[tuple[Token, int]]:
    """`COPY --from=REF` and `RUN --mount=…,from=REF,…`: the token and where REF starts in it."""
    found = []
    for token in arguments:
        if keyword == "COPY" and token.text.startswith("--from="):
            found.append((token, len("--from=")))
        elif keyword == "RUN" and token.text.startswith("--mount="):
            offset = len("--mount=")
            for field in token.text[offset:].split(","):
                if field.startswith("from="):
                    found.append((Token(field[5:], token.start + offset + 5), 0))
                offset += len(field) + 1
    return found


def _reference(token: Token, offset: int, stages: set[str], text: str, *, marked: bool,
               defaults: dict[str, Default] | None = None) -> list[Found | Left]:
    value = token.text[offset:]
    if not value or _is_stage(value, stages):
        return []
    line = line_of(text, token.start)
    if "$" in value:
        return [Left(value, line, _arguments_reason(value, defaults or {}), marked)]
    start = token.start + offset
    return [Found(value, line, (Span(start, start + len(value), Role.REFERENCE),), marked)]


def _from_image(token: Token, marked: bool, defaults: dict[str, Default], stages: set[str],
                text: str) -> list[Found | Left]:
    variable = VARIABLE_RE.match(token.text)
    if variable is None:
        return _reference(token, 0, stages, text, marked=marked, defaults=defaults)
    argument = variable[1] or variable[2]
    default = defaults.get(argument)
    if default is None:
        return [Left(token.text, line_of(text, token.start),
                     f"a build argument ({argument}) with no default before the first FROM: the "
                     "image is known only at build time", marked)]
    return _reference(default.token, 0, stages, text, marked=marked or default.marked)


def _arguments_reason(value: str, defaults: dict[str, Default]) -> str:
    """Which build arguments, with the defaults the file gives them (the build may give others)."""
    names = [f"{name}={defaults[name].token.text} by default" if name in defaults else name
             for name in dict.fromkeys(ARGUMENT_RE.findall(value))]
    return f"uses build arguments ({', '.join(names) or '$'}): the image is known only at build time"


def _merge(results: list[Found | Left]) -> Scan:
    """One result per place: an ARG default used by several FROMs is marked when any is."""
    merged: dict[tuple[int, str], Found | Left] = {}
    for result in results:
        key = (result.line, result.text)
        earlier = merged.get(key)
        if earlier is None or (result.marked and not earlier.marked):
            merged[key] = result
    return scan_of(merged.values())


def _arg_defaults(arguments: tuple[Token, ...]) -> dict[str, Token]:
    """`ARG NAME=VALUE ...` -> NAME: the VALUE token (inside its quotes, if quoted)."""
    defaults = {}
    for token in arguments:
        name, equals, value = token.text.partition("=")
        offset = token.start + len(name) + 1
        if len(value) >= 2 and value[0] in QUOTES and value[-1] == value[0]:
            value, offset = value[1:-1], offset + 1
        if equals and value:
            defaults[name] = Token(value, offset)
    return defaults


def looks_like(text: str) -> bool:
    """Some instruction is a FROM."""
    return any(instruction.keyword == "FROM" for instruction in _instructions(text))
