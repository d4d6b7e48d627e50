"""Dockerfiles and Containerfiles: `FROM [--platform=…] REF [AS name]` and `COPY --from=REF`.

Rule: instructions are read as BuildKit reads them (parser directives such as `# escape=`,
line continuations, comment lines, heredoc bodies skipped), and only the reference token is
replaced. Stage names (case-insensitive), `scratch`, stage numbers and `$ARG` / `${ARG}`
references are left alone; when a FROM is exactly `$NAME` or `${NAME}`, the default of a
global `ARG NAME=REF` (one before the first FROM, the only ones FROM can see) is the reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.rewrite.model import Found, Role, Scan, Span, line_of

DIRECTIVE_RE = re.compile(r"#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(\S+)[ \t]*\Z")
HEREDOC_RE = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
TOKEN_RE = re.compile(r"\S+")
VARIABLE_RE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})\Z")
QUOTES = ('"', "'")
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


@dataclass(frozen=True)
class Token:
    text: str
    start: int


@dataclass(frozen=True)
class Instruction:
    tokens: tuple[Token, ...]  # never empty

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
        tokens, index = _logical_line(lines, offsets, index, escape)
        if not tokens:
            continue  # a lone escape character
        instruction = Instruction(tokens)
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


def _is_image(text: str, stages: set[str]) -> bool:
    lowered = text.lower()
    return "$" not in text and lowered != "scratch" and lowered not in stages and not text.isdigit()


def _found(token: Token, offset: int, text: str) -> Found:
    start = token.start + offset
    value = token.text[offset:]
    return Found(value, line_of(text, start), (Span(start, start + len(value), Role.REFERENCE),))


def find(text: str, name: str) -> Scan:
    del name  # a Dockerfile has no syntax errors that stop a rewrite
    found: list[Found] = []
    stages: set[str] = set()
    defaults: dict[str, Token] = {}  # global ARG name -> its default value
    global_scope = True
    for instruction in _instructions(text):
        arguments = instruction.tokens[1:]
        if instruction.keyword == "ARG" and global_scope:
            defaults.update(_arg_defaults(arguments))
        elif instruction.keyword == "FROM":
            global_scope = False
            rest = [token for token in arguments if not token.text.startswith("--")]
            image = _from_image(rest[0], defaults, stages) if rest else None
            if image is not None:
                found.append(_found(image, 0, text))
            if len(rest) >= 3 and rest[1].text.lower() == "as":
                stages.add(rest[2].text.lower())
        elif instruction.keyword == "COPY":
            for token in arguments:
                if token.text.startswith("--from=") and _is_image(token.text[7:], stages):
                    found.append(_found(token, len("--from="), text))
    return Scan(tuple(dict.fromkeys(found)))


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


def _from_image(token: Token, defaults: dict[str, Token], stages: set[str]) -> Token | None:
    variable = VARIABLE_RE.match(token.text)
    if variable:
        token = defaults.get(variable[1] or variable[2], token)
    return token if _is_image(token.text, stages) else None


def looks_like(text: str) -> bool:
    """Some instruction is a FROM."""
    return any(instruction.keyword == "FROM" for instruction in _instructions(text))
