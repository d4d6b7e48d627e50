"""Comments, job summaries and the status page in the maintainers' language."""

from __future__ import annotations

import re

import pytest

from bot.copy.model import SyncResult
from bot.flows.comment_body import CommentWriter
from bot.flows.plan import plan_issue
from bot.image.reference import parse
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.records.record import Outcome, Phase, ResultRecord
from bot.render import LANGUAGES, _environment, catalog, render
from bot.request.address import DEFAULT_MIRROR_PREFIXES

TEMPLATES = ("comment.md.j2", "summary.md.j2", "index.html.j2", "follow.md.j2")
PLACEHOLDER_RE = re.compile(r"%\(\w+\)s|\{\w+\}|`[^`]*`|\[`[^`]*`\]")


def messages() -> list[str]:
    environment = _environment("en")
    found: list[str] = []
    for name in TEMPLATES:
        source = environment.loader.get_source(environment, name)[0]  # type: ignore[union-attr]
        for _, _, message in environment.extract_translations(source):
            text = message if isinstance(message, str) else message[0]
            if text not in found:
                found.append(text)
    return found


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    translations = catalog(language)
    missing = [message for message in messages() if message not in translations]
    assert missing == []
    unused = set(translations) - set(messages())
    assert unused == set()
    for message, translated in translations.items():
        assert sorted(PLACEHOLDER_RE.findall(message)) == sorted(PLACEHOLDER_RE.findall(translated)), message


def test_a_chinese_comment_still_carries_the_address_and_the_record() -> None:
    allowlist, _ = parse_allowlist("allow:\n  - docker.io/library/*\n")
    namer = Namer("m.example.io")
    plan = plan_issue("nginx:1.27", "", allowlist, namer, DEFAULT_MIRROR_PREFIXES)
    source = parse("docker.io/library/nginx:1.27")
    result = SyncResult(source, namer.target(source), "copied", "sha256:" + "aa" * 32)
    record = ResultRecord(1, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED)
    body = CommentWriter(None, "allowlist.yaml", language="zh-CN").result(
        plan, Outcome.MIRRORED, [result], record)
    assert "同步成功" in body and "已可通过以下地址拉取" in body
    assert "docker pull m.example.io/docker.io/library/nginx:1.27" in body
    assert body.rstrip().endswith(record.render())


def test_unknown_languages_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        render("summary.md.j2", "fr")
