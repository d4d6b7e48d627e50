"""Real titles from public mirror trackers, planned offline as `plan --json` plans them.

The table is tests/data/requests/real_titles.yaml (its header says what each field means): every
title exactly as filed, where it was filed, and the answer a maintainer would expect. Each title
is planned with an allowlist that allows every registry the reader or the answer names, so a
refusal is the reader's own and a wrong reading shows as an image allowed; and again with the
shipped allowlist, which must never allow an image the title did not ask for.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from bot.flows.plan import plan_issue
from bot.image.reference import parse
from bot.policy.allowlist import Allowlist
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.policy.suggest import not_found_suggestion
from bot.request.address import DEFAULT_MIRROR_PREFIXES
from bot.request.title import parse_request
from tests.fixtures import DATA, REPO_ROOT

TABLE_FILE = DATA / "requests" / "real_titles.yaml"
ROWS: list[dict[str, Any]] = yaml.safe_load(TABLE_FILE.read_text(encoding="utf-8"))
NAMER = Namer("m.example.io")
# Registries a permissive mirror allows whatever the title says (k8s.gcr.io's images are
# planned from registry.k8s.io).
COMMON_REGISTRIES = ("docker.io", "ghcr.io", "quay.io", "gcr.io", "registry.k8s.io", "k8s.gcr.io",
                     "mcr.microsoft.com", "nvcr.io")
SEEN_RE = re.compile(r"[\w.-]+/[\w.-]+#\d+\Z")
SHIPPED, _ = parse_allowlist((REPO_ROOT / "allowlist.yaml").read_text(encoding="utf-8"))


def expected_references(row: dict[str, Any]) -> list[str]:
    return [value for entry in row["expect"] for key in ("read", "refuse", "if_not_found")
            if isinstance(value := entry.get(key), str)]


def permissive(row: dict[str, Any]) -> Allowlist:
    """Every registry of the answer, of what the reader reads and the common ones, allowed whole."""
    request = parse_request(row["title"], row.get("body", ""), mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    registries = set(COMMON_REGISTRIES)
    registries |= {image.reference.registry for image in request.images if image.reference}
    registries |= {image.pattern.registry for image in request.images if image.pattern}
    registries |= {parse(text).registry for text in expected_references(row)}
    allowlist, problems = parse_allowlist(
        "allow:\n" + "".join(f"  - {registry}/**\n" for registry in sorted(registries)))
    assert problems == []
    return allowlist


def plan(row: dict[str, Any], allowlist: Allowlist) -> list[dict[str, Any]]:
    return plan_issue(row["title"], row.get("body", ""), allowlist, NAMER,
                      DEFAULT_MIRROR_PREFIXES).to_json()["images"]


def test_the_table_is_real_and_large() -> None:
    assert len(ROWS) >= 100
    assert all(SEEN_RE.match(row["seen"]) for row in ROWS)
    assert len({row["title"] for row in ROWS}) == len(ROWS)
    kinds = {key for row in ROWS for entry in row["expect"] for key in entry}
    assert kinds == {"read", "refuse", "note", "if_not_found"}


@pytest.mark.parametrize("row", ROWS, ids=[row["seen"] for row in ROWS])
def test_a_real_title_is_read_as_a_maintainer_would(row: dict[str, Any]) -> None:
    images = plan(row, permissive(row))
    assert len(images) == len(row["expect"]), images
    for image, expected in zip(images, row["expect"], strict=True):
        if "read" in expected:
            assert (image["decision"], image["source"]) == ("allowed", expected["read"]), image
        else:
            assert image["decision"] == "invalid", image
            assert image["suggestion"] == expected["refuse"], image
            assert image["reason"], image
        if "note" in expected:
            assert any(expected["note"] in note for note in image["notes"]), image["notes"]
    assert [platform for image in images for platform in image["platforms"]
            if image["platforms"] != "all"] == row.get("platforms", []) * len(images)


@pytest.mark.parametrize("row", [row for row in ROWS if any("read" in e for e in row["expect"])],
                         ids=lambda row: row["seen"])
def test_a_literal_reading_is_suggested_again_only_when_upstream_does_not_know_it(
        row: dict[str, Any]) -> None:
    for expected in row["expect"]:
        if "read" in expected:
            meant = not_found_suggestion(parse(expected["read"]))
            assert (str(meant) if meant else None) == expected.get("if_not_found"), expected


@pytest.mark.parametrize("row", ROWS, ids=[row["seen"] for row in ROWS])
def test_the_shipped_allowlist_never_allows_what_was_not_asked_for(row: dict[str, Any]) -> None:
    asked = {entry["read"] for entry in row["expect"] if "read" in entry}
    allowed = {image["source"] for image in plan(row, SHIPPED) if image["decision"] == "allowed"}
    assert allowed <= asked, allowed - asked
