"""A committed corpus of hostile issue titles: no crash, no copy of anything not allowed,
nothing rendered unescaped, no link or invisible character made of user text, private hosts
refused unless the allowlist names them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.config import load_config
from bot.copy.model import SyncResult
from bot.errors import ErrorKind, TransferError
from bot.flows.comment_body import CapRefusal, CommentWriter
from bot.flows.plan import plan_issue
from bot.image.reference import parse
from bot.policy.allowlist_file import parse_allowlist
from bot.records import record as records
from bot.registry.skopeo import docker_arg
from bot.render import code as code_filter
from bot.render import text as text_filter
from tests.fixtures import DATA, REPO_ROOT

CORPUS = json.loads((DATA / "hostile_titles.json").read_text())


STARTER = load_config({"MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"),
                       "MIRROR_REGISTRY": "m.example.io"})


RECORD = records.ResultRecord(1, records.Phase.RESULT, "2026-11-29T12:00:00Z",
                              records.Outcome.INVALID)


PRIVATE_HOSTS = ("localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "[::1]",
                 "[::1]:5000", "169.254.169.254", "10.0.0.1", "192.168.1.1:5000")


# What GitHub makes a link of in plain text, read once Markdown's backslash escapes are gone:
# GFM's autolinks (a scheme's `://` then a host, `www.`, an e-mail address) and GitHub's
# references (`#1`, `GH-1`). (Checked by hand against cmark-gfm, GitHub's Markdown, through the
# cmarkgfm package: the old `text` filter made a link of 25 strings of this corpus, the new one
# of none.)
AUTOLINK_RE = re.compile(r"[a-z]://[\w\[-]|(?<![\w.-])www\.\w|[\w.+-]@[\w-]+\.\w"
                         r"|(?<!&)#[0-9]|(?<!\w)gh-[0-9]", re.IGNORECASE)
# What shows as nothing: a word joiner, a soft hyphen, tag characters (U+E0000-E007F: hidden
# ASCII), a zero-width joiner, a combining grapheme joiner, a variation selector, a Hangul
# filler, the Mongolian vowel separator, a line separator, a C1 control (NEL).
INVISIBLE = ("\u2060", "\u00ad", "\U000e0001", "\U000e0041", "\U000e007f", "\u200d", "\u034f",
             "\ufe0f", "\u3164", "\u180e", "\u2028", "\x85")
LINKS = ("http://localhost:8080", "HTTPS://evil.example/x", "ftp://x.example", "www.evil.example",
         "WWW.evil.example/x", "see #1", "GH-12", "owner/repo#3", "mail me at a@b.example",
         "h\u200dttp://x.example", "ht\U000e0074tp://x.example", "http://[::1]:5000/v2/")


def autolinks(markdown: str) -> list[str]:
    return AUTOLINK_RE.findall(re.sub(r"\\(.)", r"\1", prose(markdown)))


def prose(markdown: str) -> str:
    """What GitHub renders as text: fenced blocks, code spans and our own markers removed."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.sub(r"<!-- mirror-bot:(comment|result \{.*?\}) -->", "", text)


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 200
    assert any(len(title) >= 65536 for title in CORPUS)


@pytest.mark.parametrize("title", CORPUS, ids=range(len(CORPUS)))
def test_hostile_title(title: str, tmp_path: Path) -> None:
    plan = plan_issue(title, "", STARTER.allowlist, STARTER.namer, STARTER.other_mirrors)
    for image in plan.images:
        # Notes and suggestions are built from validated names and configuration only, never
        # from the raw title: nothing in them can form markup, a mention or a marker.
        for text in (*map(str, image.notes), image.suggestion or ""):
            assert text.isascii() and text.isprintable(), text
            assert not set("<>`@[]|*") & set(text.replace("@sha256:", "")), text
    for image in plan.allowed:
        assert image.source is not None and STARTER.allowlist.decide(image.source).allowed
        argument = docker_arg(image.source)
        assert argument.isascii() and argument.isprintable() and " " not in argument
        assert image.source.registry not in PRIVATE_HOSTS
    writer = CommentWriter(run_url=None, allowlist_url="allowlist.yaml")
    body = writer.result(plan, records.Outcome.INVALID, [], RECORD, cap=CapRefusal(5, 5),
                         title=title)
    # User text never forms a marker: the bot's two markers are the only ones, and the record
    # read back is the one written.
    assert body.count("mirror-bot:") == 2 and body.count("<!--") == 2
    assert records.read(body) == RECORD
    rendered = prose(body)
    assert "<" not in rendered.replace("<details>", "").replace("</details>", "").replace(
        "<summary>", "").replace("</summary>", "").replace("<sub>", "").replace("</sub>", "")
    assert not re.search(r"(?<![\w`])@\w", rendered), rendered
    assert "](" not in rendered.replace("](allowlist.yaml)", "")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", body)
    assert not set(INVISIBLE) & set(body)
    assert autolinks(body) == []
    assert autolinks(text_filter(title)) == []
    assert "javascript:" not in rendered.lower().replace("javascript\\:", "")


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_private_hosts_are_refused_unless_named(host: str) -> None:
    ref = parse(f"{host}/x:1")
    assert not STARTER.allowlist.decide(ref).allowed
    named, problems = parse_allowlist(f"allow:\n  - '{host}/x'\n")
    assert problems == [] and named.decide(ref).allowed


@pytest.mark.parametrize("character", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_characters_never_reach_a_comment(character: str) -> None:
    """Issue 27 item 6: they survived into comments, where they hide or smuggle text."""
    hidden = f"ngi{character}nx:1.{character}27 {character}"
    assert character not in text_filter(hidden) and character not in code_filter(hidden)
    plan = plan_issue(hidden, "", STARTER.allowlist, STARTER.namer, STARTER.other_mirrors)
    writer = CommentWriter(run_url=None, allowlist_url="allowlist.yaml")
    body = writer.result(plan, records.Outcome.INVALID, [], RECORD, cap=CapRefusal(2, 2),
                         title=hidden)
    assert character not in body and "ngi" in body


@pytest.mark.parametrize("said", LINKS)
def test_user_text_never_becomes_a_link(said: str) -> None:
    """Issue 27 item 6: a title `http://localhost:PORT` became a link. GitHub links a bare URL,
    a `www.` name, an e-mail address and an issue reference by itself, escaped or not: the
    `text` filter breaks each up with a zero-width space (after `:` of `://`, not after `://`,
    which cmark-gfm still links). A registry's words reach a comment through it."""
    assert autolinks(said.replace("\u200d", "").replace("\U000e0074", "")), said  # a link as written
    assert autolinks(text_filter(said)) == []
    source = parse("docker.io/library/nginx:1.27")
    failed = SyncResult(source, source, "failed", error=TransferError(ErrorKind.UNKNOWN, said))
    plan = plan_issue("nginx:1.27", "", STARTER.allowlist, STARTER.namer, STARTER.other_mirrors)
    body = CommentWriter(run_url=None, allowlist_url="allowlist.yaml").result(
        plan, records.Outcome.FAILED, [failed], RECORD)
    assert autolinks(body) == [], body
