"""Markdown for comments and job summaries, from the Jinja2 templates in bot/templates/.

Rule: text that came from users or registries is only ever shown through the `code` filter
(an inline code span that cannot be broken out of) or the `text` filter (Markdown and HTML
escaped, mentions defused); both break up `<!--`, `-->` and the `mirror-bot:` marker prefix, so
an issue title can never inject a mention, a link, HTML or anything that looks like a record.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

MAX_TEXT = 500
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
ZERO_WIDTH_SPACE = "\u200b"
# What could open or close an HTML comment, or start one of the bot's markers.
MARKER_PIECES = ("<!--", "-->", "mirror-bot:")


def _clip(value: Any) -> str:
    text = CONTROL_RE.sub("", str(value)).replace("\r", "")
    text = text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"
    for piece in MARKER_PIECES:
        # A zero-width space after the first character: shown the same, never parsed.
        text = text.replace(piece, piece[0] + ZERO_WIDTH_SPACE + piece[1:])
    return text


def code(value: Any) -> str:
    """An inline code span: backticks are replaced, so the span cannot be closed early."""
    text = _clip(value).replace("\n", " ").replace("`", "'")
    return f"`{text}`" if text.strip() else "` `"


def text(value: Any) -> str:
    """Plain Markdown text: HTML escaped, Markdown punctuation escaped, @mentions defused."""
    escaped = html.escape(_clip(value).replace("\n", " "), quote=False)
    escaped = MARKDOWN_SPECIAL_RE.sub(r"\\\1", escaped)
    return escaped.replace("@", "@\u200b")


@cache
def _environment() -> Environment:
    # HTML pages are autoescaped; Markdown is escaped per value by the `code` and `text` filters.
    environment = Environment(loader=PackageLoader("bot", "templates"), undefined=StrictUndefined,
                              autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                                           default=False),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["code"] = code
    environment.filters["text"] = text
    return environment


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
