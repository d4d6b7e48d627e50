"""Markdown for comments and job summaries, from the Jinja2 templates in bot/templates/.

Rule: text that came from users or registries is only ever shown through the `code` filter
(an inline code span that cannot be broken out of) or the `text` filter (Markdown and HTML
escaped, mentions defused); both break up `<!--`, `-->` and the `mirror-bot:` marker prefix, so
an issue title can never inject a mention, a link, HTML or anything that looks like a record.
Every value is redacted by the secret set `render` is given before it is escaped (both filters,
and every other value before HTML autoescaping), then the whole text once more: an escaped
secret is spelled differently (`pass\\-word`) and would no longer be found.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from bot.policy.settings import LANGUAGES
from bot.redaction import redact

MAX_TEXT = 500
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
ZERO_WIDTH_SPACE = "\u200b"
# What could open or close an HTML comment, or start one of the bot's markers.
MARKER_PIECES = ("<!--", "-->", "mirror-bot:")
SECRETS_VARIABLE = "redaction_secrets"  # the context variable `render` puts the secrets in


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


def _redacted(context: Context, value: Any) -> Any:
    """`value` redacted by the secrets of this rendering; markup already made safe is redacted
    as it is (its values were this rendering's own)."""
    secrets = context.get(SECRETS_VARIABLE, ())
    if isinstance(value, Markup):
        # Redaction only puts `***` in place of text: escaped markup stays escaped.
        return Markup(redact(str(value), secrets))  # noqa: S704
    return redact(value, secrets) if isinstance(value, str) else value


@pass_context
def _code_filter(context: Context, value: Any) -> str:
    return code(_redacted(context, str(value)))


@pass_context
def _text_filter(context: Context, value: Any) -> str:
    return text(_redacted(context, str(value)))


@cache
def catalog(language: str) -> dict[str, str]:
    """Translations of the templates' English messages; English needs none."""
    if language == "en":
        return {}
    data = json.loads(files("bot").joinpath("locale", f"{language}.json").read_text("utf-8"))
    return {str(key): str(value) for key, value in data.items()}


@cache
def _environment(language: str) -> Environment:
    # HTML pages are autoescaped; Markdown is escaped per value by the `code` and `text` filters.
    # `finalize` sees every value before HTML autoescaping does: it is redacted first.
    environment = Environment(loader=PackageLoader("bot", "templates"), undefined=StrictUndefined,
                              autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                                           default=False),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              extensions=["jinja2.ext.i18n"], finalize=pass_context(_redacted))
    messages = catalog(language)

    def gettext(message: str) -> str:
        return messages.get(message, message)

    def ngettext(singular: str, plural: str, count: int) -> str:
        return gettext(singular if count == 1 else plural)

    # The i18n extension adds this method to the Environment at run time; jinja2's types do not
    # declare it.
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["code"] = _code_filter
    environment.filters["text"] = _text_filter
    return environment


def render(template: str, language: str = "en", *, secrets: Iterable[str] = (),
           **context: Any) -> str:
    """Render `template` in `language` (one of LANGUAGES), every value and the text redacted
    by `secrets` (the run's secret set, bot/redaction.py)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    rendered = _environment(language).get_template(template).render(
        language=language, **{SECRETS_VARIABLE: secrets}, **context)
    return redact(rendered, secrets)
