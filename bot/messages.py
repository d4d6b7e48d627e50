"""Sentences the bot writes to people, kept as a template and its values until they are shown.

Rule: every sentence of our own that can reach a comment, a job summary or the status page is a
`Message`, made by `message("English template with %(name)s fields", name=value)` with the
template a string literal (tests/unit/test_i18n.py finds each one and fails unless every catalog
in bot/locale/ translates it with the same fields). `str(message)` is the English sentence, for
`--json`, logs and the CLI; bot/render.py's `say` filter translates the template and fills each
field escaped (a field is user or registry text: never markup). A field is text, a count, or
another Message (translated in turn). Text quoted from a registry, skopeo or GitHub is never a
Message: it is shown as received.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, reduce
from typing import TypeAlias

FIELD_RE = re.compile(r"%\((\w+)\)s")
# What a field may hold once made: text, a count, or a sentence of its own.
Field: TypeAlias = "str | int | Message"


@dataclass(frozen=True)
class Message:
    """An English template with `%(name)s` fields, and the value of each field."""

    template: str
    values: tuple[tuple[str, Field], ...] = ()

    def __post_init__(self) -> None:
        named = _fields_of(self.template)
        given = {name for name, _ in self.values}
        if named != given:
            raise ValueError(f"message {self.template!r}: fields {sorted(named)}, "
                             f"values for {sorted(given)}")

    @property
    def fields(self) -> dict[str, Field]:
        return dict(self.values)

    def __str__(self) -> str:
        return self.template % {name: str(value) for name, value in self.values}


@cache
def _fields_of(template: str) -> frozenset[str]:
    # Templates are literals: a few hundred at most, each parsed once.
    return frozenset(FIELD_RE.findall(template))


def message(template: str, /, **values: object) -> Message:
    """A Message; `template` must be a string literal (the catalogs are checked against them).
    A value that is not a count or a Message is kept as its text (a Reference, a Platform)."""
    return Message(template, tuple((name, _field(value)) for name, value in values.items()))


def _field(value: object) -> Field:
    if isinstance(value, Message):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value)


def joined(messages: Sequence[Message]) -> Message:
    """Several sentences (at least one) as one, `first; then`, each translated on its own."""
    return reduce(lambda first, then: message("%(first)s; %(then)s", first=first, then=then),
                  messages)
