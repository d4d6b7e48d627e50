"""A committed corpus of hostile issue titles: no crash, no copy of anything not allowed,
nothing rendered unescaped, private hosts refused unless the allowlist names them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.config import load_config
from bot.flows.comment_body import CapRefusal, CommentWriter
from bot.flows.plan import plan_issue
from bot.image.reference import parse
from bot.policy.allowlist_file import parse_allowlist
from bot.records import record as records
from bot.registry.skopeo import docker_arg
from tests.fixtures import DATA, REPO_ROOT

CORPUS = json.loads((DATA / "hostile_titles.json").read_text())


STARTER = load_config({"MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"),
                       "MIRROR_REGISTRY": "m.example.io"})


RECORD = records.ResultRecord(1, records.Phase.RESULT, "2026-11-29T12:00:00Z",
                              records.Outcome.INVALID)


PRIVATE_HOSTS = ("localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "[::1]",
                 "[::1]:5000", "169.254.169.254", "10.0.0.1", "192.168.1.1:5000")


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
    assert "javascript:" not in rendered.lower().replace("javascript\\:", "")


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_private_hosts_are_refused_unless_named(host: str) -> None:
    ref = parse(f"{host}/x:1")
    assert not STARTER.allowlist.decide(ref).allowed
    named, problems = parse_allowlist(f"allow:\n  - '{host}/x'\n")
    assert problems == [] and named.decide(ref).allowed
