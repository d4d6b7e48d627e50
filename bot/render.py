"""Markdown for comments and job summaries, from the Jinja2 templates in bot/templates/.

Rule: text that came from users or registries is only ever shown through the `code` filter
(an inline code span that cannot be broken out of) or the `text` filter (Markdown and HTML
escaped, mentions defused, and whatever GitHub would turn into a link by itself broken up: a
`://`, a `www.`, an issue reference `#1` or `GH-1`); both drop what shows as nothing (control
characters, Unicode's default-ignorable ones: joiners, the soft hyphen, tag characters…) and
break up `<!--`, `-->` and the `mirror-bot:` marker prefix, so an issue title can never inject a
mention, a link, HTML, hidden text or anything that looks like a record.
Every value is redacted by the secret set `render` is given before it is escaped (both filters,
and every other value before HTML autoescaping), then the whole text once more: an escaped
secret is spelled differently (`pass\\-word`) and would no longer be found.

Our own sentences are translated from the catalog of the language (bot/locale/<language>.json,
keyed by the English text): the templates' `_()` strings, and each Message (bot/messages.py)
through the `say` filter, which escapes the template's own text as `text` does (its backtick
spans kept as written) and fills each field escaped as `code` does (a quoted `'%(name)s'` loses
its quotes: the code span sets it apart), a count as it is and a Message translated in turn. In
an HTML page the same filter writes `<code>` and HTML escapes. Text that is not a Message (a
registry's words) goes through `text` unchanged, never translated.
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

from bot.messages import FIELD_RE, Message
from bot.policy.settings import LANGUAGES
from bot.redaction import redact

MAX_TEXT = 500
# What shows as nothing or moves text around: control characters but tab and newline, the line
# and paragraph separators, and Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt:
# the soft hyphen, joiners, the word joiner, bidi controls, fillers, variation selectors, tags).
INVISIBLE_RE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
ZERO_WIDTH_SPACE = "\u200b"
# What could open or close an HTML comment, or start one of the bot's markers.
MARKER_PIECES = ("<!--", "-->", "mirror-bot:")
# What GitHub turns into a link in plain text (GFM's autolinks: a scheme's `://`, `www.`; its own
# references: `#1`, `GH-1`); a zero-width space after the first character stops each.
LINK_START_RE = re.compile(r"://|www\.|#(?=[0-9])|gh-(?=[0-9])", re.IGNORECASE)
SECRETS_VARIABLE = "redaction_secrets"  # the context variable `render` puts the secrets in
# A Message template's pieces: a backtick code span, a field in quotes, a field.
TEMPLATE_PIECE_RE = re.compile(rf"(`[^`]*`)|'{FIELD_RE.pattern}'|{FIELD_RE.pattern}")


def _clip(value: Any) -> str:
    text = INVISIBLE_RE.sub("", str(value))
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
    """Plain Markdown text: HTML escaped, Markdown punctuation escaped, @mentions and links
    defused."""
    unlinked = LINK_START_RE.sub(lambda m: m[0][0] + ZERO_WIDTH_SPACE + m[0][1:],
                                 _clip(value).replace("\n", " "))
    escaped = html.escape(unlinked, quote=False)
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


def _say(context: Context, said: Message | str, messages: dict[str, str]) -> str:
    """`said` in the rendering's language and escaping (see the module's rule)."""
    page = bool(context.eval_ctx.autoescape)
    if not isinstance(said, Message):
        quoted = str(_redacted(context, said))
        return html.escape(_clip(quoted), quote=False) if page else text(quoted)
    translated = messages.get(said.template, said.template)
    fields = said.fields
    pieces: list[str] = []
    position = 0
    for piece in TEMPLATE_PIECE_RE.finditer(translated):
        pieces.append(_literal(translated[position:piece.start()], page))
        span, quoted_field, field = piece.groups()
        if span is not None:
            pieces.append(f"<code>{html.escape(span[1:-1], quote=False)}</code>" if page else span)
        else:
            pieces.append(_field(context, fields[quoted_field or field], messages, page))
        position = piece.end()
    pieces.append(_literal(translated[position:], page))
    return "".join(pieces)


def _literal(piece: str, page: bool) -> str:
    if not piece:
        return ""
    return html.escape(piece, quote=False) if page else text(piece)


def _field(context: Context, value: Message | str | int, messages: dict[str, str],
           page: bool) -> str:
    if isinstance(value, Message):
        return _say(context, value, messages)
    if isinstance(value, int):
        return str(value)
    redacted = str(_redacted(context, value))
    if page:
        return f"<code>{html.escape(_clip(redacted), quote=False)}</code>"
    return code(redacted)


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

    @pass_context
    def say(context: Context, value: Message | str | None) -> Markup:
        # Markup: every piece was escaped above, so an HTML page must not escape it again.
        return Markup("" if value is None else _say(context, value, messages))  # noqa: S704

    environment.filters["say"] = say
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
