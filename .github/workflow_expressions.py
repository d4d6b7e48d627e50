"""GitHub Actions expressions: parse (for the workflow lint) and evaluate (for tests of `if:`).

Rule: the grammar and semantics of GitHub's expression language as documented: `||` `&&` `==` `!=`
`<` `<=` `>` `>=` `!`, property access with `.name`, `['name']` and the `.*` filter, literals,
function calls; strings compare case-insensitively, other types loosely (as numbers).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

CONTEXTS = frozenset({"github", "env", "vars", "job", "jobs", "steps", "runner", "secrets",
                      "strategy", "matrix", "needs", "inputs"})
STATUS = {"success": True, "always": True, "cancelled": False, "failure": False}
TOKEN = re.compile(r"""\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<op>==|!=|<=|>=|&&|\|\||[<>!.()\[\],*])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))""", re.X)


class ExpressionError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.strip()
        while position < len(text):
            match = TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ExpressionError(f"unexpected character {text[position]!r} in {text!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens) or (expected and self.tokens[self.at][1] != expected):
            raise ExpressionError(f"expected {expected or 'more'} at token {self.at + 1}")
        self.at += 1
        return self.tokens[self.at - 1]

    def parse(self) -> tuple:
        tree = self.binary(0)
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return tree

    LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="))

    def binary(self, level: int) -> tuple:
        if level == len(self.LEVELS):
            return self.unary()
        tree = self.binary(level + 1)
        while self.peek() in self.LEVELS[level] and self.tokens[self.at][0] == "op":
            operator = self.take()[1]
            tree = ("op", operator, tree, self.binary(level + 1))
        return tree

    def unary(self) -> tuple:
        if self.peek() == "!":
            self.take()
            return ("not", self.unary())
        tree = self.primary()
        while self.peek() in {".", "["}:
            if self.take()[1] == ".":
                kind, name = self.take()
                tree = ("star", tree) if name == "*" else ("property", tree, self._name(kind, name))
            else:
                tree = ("index", tree, self.binary(0))
                self.take("]")
        return tree

    def primary(self) -> tuple:
        kind, text = self.take()
        if kind == "string":
            return ("literal", text[1:-1].replace("''", "'"))
        if kind == "number":
            return ("literal", float(text))
        if text == "(":
            tree = self.binary(0)
            self.take(")")
            return tree
        name = self._name(kind, text)
        if name in {"true", "false", "null"}:
            return ("literal", json.loads(name))
        if self.peek() == "(":
            return self.call(name)
        if name not in CONTEXTS:
            raise ExpressionError(f"unknown context {name!r}")
        return ("context", name)

    def call(self, name: str) -> tuple:
        if name.lower() not in FUNCTIONS and name.lower() not in STATUS | {"hashfiles": True}:
            raise ExpressionError(f"unknown function {name!r}")
        self.take("(")
        arguments = []
        while self.peek() != ")":
            arguments.append(self.binary(0))
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        return ("call", name.lower(), tuple(arguments))

    @staticmethod
    def _name(kind: str, text: str) -> str:
        if kind != "name":
            raise ExpressionError(f"expected a name, got {text!r}")
        return text


def parse(text: str) -> tuple:
    """Parse one expression (the text inside `${{ }}`, or an `if:` written without it)."""
    return _Parser(text).parse()


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any) -> float:
    if value is None or isinstance(value, (bool, int, float)):
        return float(value or 0)
    try:
        return float(value.strip() or 0) if isinstance(value, str) else float("nan")
    except ValueError:
        return float("nan")


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right) or left is None or right is None:
        if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
            return left is right
        if left is None or right is None:
            return left is right
        return left == right
    return _number(left) == _number(right)


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0) and not (isinstance(value, float) and math.isnan(value))


FUNCTIONS = {
    "contains": lambda search, item: (any(_equal(x, item) for x in search) if isinstance(search, list)
                                      else _string(item).casefold() in _string(search).casefold()),
    "startswith": lambda text, prefix: _string(text).casefold().startswith(_string(prefix).casefold()),
    "endswith": lambda text, suffix: _string(text).casefold().endswith(_string(suffix).casefold()),
    "fromjson": json.loads,
    "tojson": lambda value: json.dumps(value, indent=2),
    "join": lambda items, separator=",": _string(separator).join(map(_string, items)),
    "format": lambda template, *args: re.sub(
        r"\{(\d+)\}", lambda m: _string(args[int(m.group(1))]), template),
}


def evaluate(tree: tuple, context: dict[str, Any]) -> Any:
    """Evaluate with GitHub's rules: case-insensitive strings, `.*` filters, loose equality."""
    kind = tree[0]
    if kind == "literal":
        return tree[1]
    if kind == "context":
        return context.get(tree[1])
    if kind in {"property", "index"}:
        key = tree[2] if kind == "property" else evaluate(tree[2], context)
        return _member(evaluate(tree[1], context), key)
    if kind == "star":
        value = evaluate(tree[1], context)
        return list(value.values()) if isinstance(value, dict) else list(value or [])
    if kind == "call":
        arguments = [evaluate(argument, context) for argument in tree[2]]
        return STATUS[tree[1]] if tree[1] in STATUS else FUNCTIONS[tree[1]](*arguments)
    if kind == "not":
        return not truthy(evaluate(tree[1], context))
    operator, left = tree[1], evaluate(tree[2], context)
    if operator in {"&&", "||"}:
        decided = truthy(left) if operator == "||" else not truthy(left)
        return left if decided else evaluate(tree[3], context)
    right = evaluate(tree[3], context)
    if operator in {"==", "!="}:
        return _equal(left, right) == (operator == "==")
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold(), right.casefold()
    else:
        left, right = _number(left), _number(right)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]


def _member(value: Any, key: Any) -> Any:
    if isinstance(value, list) and isinstance(key, str):  # after `.*`: the filter
        return [_member(item, key) for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        found = [v for k, v in value.items() if isinstance(key, str) and k.casefold() == key.casefold()]
        return found[0] if found else None
    if isinstance(value, list) and isinstance(key, float) and 0 <= key < len(value):
        return value[int(key)]
    return None
