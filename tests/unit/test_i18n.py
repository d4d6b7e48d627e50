"""Comments, job summaries and the status page in the maintainers' language: every sentence of
our own goes through a catalog, and a test fails on one that does not."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import bot
from bot.copy.lookup import not_found
from bot.copy.model import AddressResult, SyncResult
from bot.copy.platforms import REPLACED_SUBSET_NOTE, plan_subset, refuse_narrowing
from bot.errors import ErrorKind, TransferError
from bot.flows.comment_body import CapRefusal, CommentWriter
from bot.flows.conclude import RunOutcome, RunStatus
from bot.flows.handle_event import write_summary
from bot.flows.outcomes import ImageOutcome, Unsynced
from bot.flows.plan import Plan, expand_pattern, plan_issue
from bot.image.oci import Manifest, subset_index
from bot.image.platform import Platform
from bot.image.reference import Reference, parse
from bot.messages import FIELD_RE, Message, message
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.records.record import Outcome, Phase, ResultRecord
from bot.render import LANGUAGES, _environment, catalog, render
from bot.request.address import DEFAULT_MIRROR_PREFIXES

BOT = Path(bot.__file__).parent
TEMPLATES = ("comment.md.j2", "summary.md.j2", "index.html.j2", "follow.md.j2")
PLACEHOLDER_RE = re.compile(r"%\(\w+\)s|\{\w+\}|`[^`]*`|\[`[^`]*`\]")
OTHER_LANGUAGES = [language for language in LANGUAGES if language != "en"]


def template_strings() -> list[str]:
    """The templates' `_()` strings."""
    environment = _environment("en")
    found: list[str] = []
    for name in TEMPLATES:
        source = environment.loader.get_source(environment, name)[0]  # type: ignore[union-attr]
        for _, _, text in environment.extract_translations(source):
            found.append(text if isinstance(text, str) else text[0])
    return found


def message_calls() -> list[tuple[str, int, ast.expr]]:
    """(file, line, first argument) of every `message(...)` call in bot/."""
    calls = []
    for path in sorted(BOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "message" and node.args):
                calls.append((path.relative_to(BOT).as_posix(), node.lineno, node.args[0]))
    return calls


def code_templates() -> list[str]:
    return [arg.value for _, _, arg in message_calls()
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]


def catalog_keys() -> list[str]:
    return list(dict.fromkeys([*template_strings(), *code_templates()]))


def test_every_message_template_is_a_string_literal() -> None:
    """The catalogs are checked against the literals: a template built at run time (an f-string,
    a variable) could never be."""
    calls = message_calls()
    assert len(calls) >= 70
    assert [(path, line) for path, line, arg in calls
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str))] == []
    direct = [(path.relative_to(BOT).as_posix(), node.lineno)
              for path in BOT.rglob("*.py") if path.name != "messages.py"
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "Message"]
    assert direct == []


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    translations = catalog(language)
    keys = catalog_keys()
    assert [key for key in keys if key not in translations] == []
    assert set(translations) - set(keys) == set()  # no entry nobody uses
    for key, translated in translations.items():
        assert sorted(PLACEHOLDER_RE.findall(key)) == sorted(PLACEHOLDER_RE.findall(translated)), key
        assert translated.strip() and translated == translated.strip(), key


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_the_catalog_file_has_each_key_once(language: str) -> None:
    path = BOT / "locale" / f"{language}.json"
    pairs = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=list)
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys))


def test_a_message_is_its_english_sentence_and_names_every_field() -> None:
    said = message("'%(tag)s' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; "
                   "not starting with '.' or '-')", tag="-release")
    assert str(said).startswith("'-release' is not a valid tag")
    with pytest.raises(ValueError, match="fields"):
        Message("%(tag)s is not a valid tag", (("other", "x"),))
    every = code_templates()
    for template in every:
        fields = {name: "x" for name in FIELD_RE.findall(template)}
        assert "%(" not in str(message(template, **fields)), template


# -- the `say` filter -------------------------------------------------------------------------

def say(value: object, language: str = "zh-CN", secrets: tuple[str, ...] = ()) -> str:
    # A template from a string is autoescaped as HTML unless told: this one is Markdown.
    markdown = _environment(language).from_string(
        "{% autoescape false %}{{ value | say }}{% endautoescape %}")
    return markdown.render(value=value, redaction_secrets=secrets)


def test_a_message_is_translated_and_each_field_is_a_code_span() -> None:
    said = message("'%(tag)s' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; "
                   "not starting with '.' or '-')", tag="-release")
    assert say(said).startswith("`-release` 不是有效的 tag")
    # English: the template's text is escaped as Markdown text, the quotes give way to the span.
    assert say(said, "en").startswith("`-release` is not a valid tag \\(letters, digits, '\\_'")


def test_fields_cannot_form_markup_mentions_or_markers() -> None:
    hostile = "x` @admin [a](javascript:1) <!-- mirror-bot: -->"
    rendered = say(message("'%(host)s' is not a valid registry host", host=hostile))
    assert rendered.count("`") == 2 and "\n" not in rendered
    span = rendered[rendered.index("`"):rendered.rindex("`") + 1]
    assert "<!--" not in span and "mirror-bot:" not in span
    assert rendered.endswith(" 不是有效的仓库地址")


def test_nested_messages_are_translated_and_counts_stay_plain() -> None:
    reason = message("denied by rule '%(rule)s' (%(where)s)", rule="docker.io/**",
                     where="allowlist.yaml:3")
    said = message("%(frozen)s is frozen and redirected to %(redirect)s by the Kubernetes project, "
                   "and %(name)s is not allowed here: %(reason)s", frozen="k8s.gcr.io",
                   redirect="registry.k8s.io", name="registry.k8s.io/x", reason=reason)
    assert say(said).endswith("：被规则 `docker.io/**`（`allowlist.yaml:3`）拒绝")
    assert say(message("the repository name is longer than %(limit)s characters", limit=255)) == (
        "仓库名超过 255 个字符")


def test_quoted_text_is_shown_as_received_and_redacted() -> None:
    registry = "unauthorized: authentication required for hunter22"
    assert say(registry, secrets=("hunter22",)) == "unauthorized: authentication required for \\*\\*\\*"
    assert "hunter22" not in say(message("'%(host)s' is not a valid registry host",
                                         host="hunter22.example"), secrets=("hunter22",))


def test_an_html_page_gets_code_elements_and_html_escapes() -> None:
    page = _environment("zh-CN").from_string(
        "{% autoescape true %}{{ value | say }} {{ quoted | say }}{% endautoescape %}")
    rendered = page.render(value=message("'%(host)s' is not a valid registry host", host="<b>x</b>"),
                           quoted="<i>registry</i>")
    assert rendered == ("<code>&lt;b&gt;x&lt;/b&gt;</code> 不是有效的仓库地址 "
                        "&lt;i&gt;registry&lt;/i&gt;")


# -- every sentence in a comment or a summary -------------------------------------------------

ALLOWLIST_TEXT = """\
allow:
  - docker.io/library/*
  - docker.io/bitnami/**
  - registry.k8s.io/pause
  - ghcr.io/acme/app:v1.*
  - docker.io/library/app
deny:
  - docker.io/library/forbidden
  - docker.io/library/app:*-rc*
settings:
  platforms: [linux/amd64, linux/arm64]
  max_images_per_issue: 3
"""
DIGEST = "sha256:" + "ab" * 32
REFUSED_TITLES = [
    "Nginx", "nginx -a", "", "nginx@sha256:" + "a" * 63, "nginx:1.27.*@sha256:" + "a" * 64,
    "hub.docker.com/u/someone", "https://github.com/acme/app", "docker.io", "sha256:" + "c" * 64,
    "m.daocloud.io", "nginx --platform=linux/s390x", "nginx --platform=plan10/amd64",
    "nginx --platform=linux/vax", "nginx --platform=linux/arm/x7", "nginx --platform",
    "nginx redis memcached mysql postgres", "a" * 2000, "nginx:-release", "nginx\u00e9", "a//b",
    "docker.io/library/forbidden",
    "quay.io/other/x:1", "ghcr.io/acme/app:v2", f"docker.io/library/app@{DIGEST}",
    "k8s.gcr.io/coredns:1.0", "docker.io/library/nginx:1.27.*@x", "NGINX/Nginx", "nginx/./x",
    "nginx@sha512:" + "a" * 128, "nginx@md5:" + "a" * 32, "nginx@sha256:" + "A" * 64,
    "EXAMPLE.com/a", "localhost:99999999/a", "docker.io/library/" + "a" * 300,
    "nginx:1.*", "redis:7.*", "\u0000nginx", "nginx:1.27.*:x",
]
ALLOWED_TITLES = [
    "docker.m.daocloud.io/library/nginx:1.27", "m.example.io/docker.io/library/redis:7",
    "k8s.gcr.io/pause:3.9", "ngnix:1.27", "hub.docker.com/r/bitnami/redis",
    "kubesre.xyz/docker.io/library/nginx:1",
]


def plans() -> list[Plan]:
    allowlist, problems = parse_allowlist(ALLOWLIST_TEXT)
    assert problems == []
    namer = Namer("m.example.io")
    found = [plan_issue(title, "", allowlist, namer, DEFAULT_MIRROR_PREFIXES)
             for title in [*REFUSED_TITLES, *ALLOWED_TITLES]]
    [pattern] = plan_issue("nginx:1.*", "", allowlist, namer, DEFAULT_MIRROR_PREFIXES).patterns
    found.append(Plan(expand_pattern(pattern, [f"1.{n}" for n in range(30)], allowlist, namer, 20)))
    found.append(Plan(expand_pattern(pattern, ["2.0"], allowlist, namer, 20)))
    # A registry whose name ends in -digits has no mirrored address (the mirror writes ports so).
    found.append(plan_issue("registry.example-5000/a/b:1", "",
                            parse_allowlist("allow:\n  - registry.example-5000/**\n")[0],
                            namer, DEFAULT_MIRROR_PREFIXES))
    return found


def index(*platforms: str, subset: bool = False) -> Manifest:
    entries = [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + f"{n:02d}" * 32, "size": 100,
                "platform": {"os": p.split("/")[0], "architecture": p.split("/")[1]}}
               for n, p in enumerate(platforms)]
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries}).encode()
    manifest = Manifest.from_bytes(body)
    return subset_index(manifest, entries) if subset else manifest


def copy_sentences() -> tuple[list[Message], list[TransferError]]:
    """The copy engine's notes and errors, made by its own functions."""
    source = parse("docker.io/library/nginx:1.27")
    target = parse("m.example.io/docker.io/library/nginx:1.27")
    upstream = index("linux/amd64", "linux/arm64", "linux/s390x")
    arm, s390x = Platform.parse("linux/arm64"), Platform.parse("linux/s390x")
    notes = [REPLACED_SUBSET_NOTE,
             plan_subset(upstream, [arm], None, source, target).note,
             plan_subset(upstream, [arm], index("linux/amd64", subset=True), source, target).note,
             plan_subset(index("linux/arm64"), [arm], index("linux/ppc64le", subset=True), source,
                         target).note]
    errors = [not_found(source)]
    for attempt in (lambda: refuse_narrowing(upstream, target, [arm]),
                    lambda: plan_subset(index("linux/amd64"), [s390x], None, source, target)):
        with pytest.raises(TransferError) as caught:
            attempt()
        errors.append(caught.value)
    return notes, errors


ENGLISH_RUN_RE = re.compile(r"[A-Za-z]{2,}(?:[\s\\]+[A-Za-z][a-z]+){2,}")


def english_left(text: str, quoted: tuple[str, ...] = ()) -> list[str]:
    """Runs of three English words outside code spans, code blocks, links and the record."""
    for piece in quoted:
        text = text.replace(piece, "")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return ENGLISH_RUN_RE.findall(text)


def test_every_reason_and_note_a_plan_gives_is_a_message() -> None:
    for plan in plans():
        for image in plan.images:
            assert isinstance(image.reason, Message), image
            assert all(isinstance(note, Message) for note in image.notes), image
    notes, errors = copy_sentences()
    assert all(isinstance(note, Message) for note in notes)
    assert all(isinstance(error.said, Message) for error in errors)


def test_a_chinese_comment_has_no_english_sentence_of_ours() -> None:
    writer = CommentWriter("https://github.com/o/r/actions/runs/1", "allowlist.yaml",
                           language="zh-CN")
    record = ResultRecord(1, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.INVALID)
    seen_reasons = 0
    for plan in plans():
        body = writer.result(plan, Outcome.INVALID, [], record, cap=CapRefusal(3, 3), title="x")
        seen_reasons += sum(1 for image in plan.images if image.decision != "allowed")
        assert english_left(body) == [], body
        if plan.allowed:
            syncing = writer.syncing(plan, record, size=5_000_000)
            assert english_left(syncing) == [], syncing
            # Each note on its own line under its image.
            notes = sum(len(image.notes) for image in plan.allowed)
            assert syncing.count("\n  - ") == notes
    assert seen_reasons >= len(REFUSED_TITLES)
    notes, errors = copy_sentences()
    allowlist = parse_allowlist(ALLOWLIST_TEXT)[0]
    plan = plan_issue("nginx:1.27", "", allowlist, Namer("m.example.io"), DEFAULT_MIRROR_PREFIXES)
    source = parse("docker.io/library/nginx:1.27")
    target = Reference("m.example.io", "docker.io/library/nginx", "1.27")
    quoted = "manifest unknown: the registry says so in English"
    results: list[ImageOutcome] = [
        *(SyncResult(source, target, "copied", DIGEST, note=note, also=[AddressResult(
            target.with_tag("x"), "failed", error)]) for note, error in zip(notes, errors, strict=False)),
        *(SyncResult(source, target, "failed", error=error) for error in errors),
        SyncResult(source, target, "failed", error=TransferError(ErrorKind.NOT_FOUND, quoted)),
        Unsynced.refused(plan_issue("quay.io/x/y:1", "", allowlist, Namer("m.example.io"),
                                    DEFAULT_MIRROR_PREFIXES).images[0]),
    ]
    for outcome in (Outcome.MIRRORED, Outcome.FAILED, Outcome.GAVE_UP, Outcome.INVALID):
        body = writer.result(plan, outcome, results, record)
        assert english_left(body, (quoted.replace("_", "\\_"),)) == [], body
        assert "manifest unknown: the registry says so in English" in body  # quoted as received


def test_a_chinese_job_summary_names_statuses_and_the_outcome_in_chinese(tmp_path: Path) -> None:
    source = parse("docker.io/library/nginx:1.27")
    target = Reference("m.example.io", "docker.io/library/nginx", "1.27")
    for status in RunStatus:
        path = tmp_path / f"{status}.md"
        outcome = RunOutcome(status, 0, (
            SyncResult(source, target, "copied", DIGEST),
            SyncResult(source, target, "unchanged", DIGEST),
            SyncResult(source, target, "failed", error=not_found(source)),
            Unsynced(source, None, "denied"), Unsynced(source, None, "invalid")))
        write_summary(path, 7, outcome, (), "zh-CN")
        text = path.read_text(encoding="utf-8")
        heading, *rows = [line for line in text.splitlines() if line.startswith(("##", "| `"))]
        assert re.search(r"[a-z]{3}", heading.split("—")[-1]) is None, heading
        assert all(re.search(r"\| [a-z]{3}", row) is None for row in rows), rows


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


def test_json_and_the_cli_keep_english() -> None:
    allowlist, _ = parse_allowlist(ALLOWLIST_TEXT)
    plan = plan_issue("docker.m.daocloud.io/library/forbidden:1", "", allowlist,
                      Namer("m.example.io"), DEFAULT_MIRROR_PREFIXES)
    [image] = plan.to_json()["images"]
    assert image["reason"] == "denied by rule 'docker.io/library/forbidden' (allowlist.yaml:8)"
    assert image["notes"] == ["docker.m.daocloud.io/ is another mirror's address for docker.io; "
                              "the image is requested from docker.io itself"]
    source = parse("docker.io/library/nginx:1.27")
    failed = SyncResult(source, None, "failed", error=not_found(source), note=REPLACED_SUBSET_NOTE)
    assert failed.to_json()["error"]["message"].startswith("docker.io/library/nginx:1.27 does not")
    assert failed.to_json()["note"] == str(REPLACED_SUBSET_NOTE)


def test_unknown_languages_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        render("summary.md.j2", "fr")
