"""Request parsing: what users really type into issue titles (peer trackers' titles and more).

The table lives in tests/data/titles.json: each entry is a title (and body) with the sources it
must yield (references and tag patterns, in order), the errors of the entries that are not
images (a fragment each, in order), the platforms, the notes (each note's first word: the
prefix that was dropped), the suggestion (the reference a refused entry most likely meant) and
the hint for a request that names no image (a bare name in its prose). `seen` says where the
title shape was seen (a public tracker's issue, or this project's issue). Real titles of issue
23 are in tests/data/requests/real_titles.yaml (tests/unit/test_real_titles.py).
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.image.reference import Reference, TagPattern
from bot.request.address import DEFAULT_MIRROR_PREFIXES, mirror_prefixes_from, read_address
from bot.request.title import ImageRequest, parse_request
from tests.fixtures import DATA

MIRROR = "m.example.io"
TABLE: list[dict[str, Any]] = json.loads(
    (DATA / "titles.json").read_text(encoding="utf-8"))

# Every title shape the request grammar promises to read (issue 11 and 15): each must be in the
# table, so that dropping a row cannot silently drop a promise.
PROMISED = [
    "docker pull", "nginx:1.27 and redis:7.4", "Please mirror nginx:1.27",
    "docker pull a && docker pull b", "SYNC IMAGE ghcr.io/metalbear-co/mirrord:latest",
    "[sync] nginx:1.27", "[PORTER]k8s.gcr.io/git-sync:v3.1.6",
    "[Sync Image] quay.io/prometheus/node-exporter:v1.8.0", "同步 nginx:latest",
    "同步镜像: docker.io/library/redis:7.4", "请求同步镜像：ghcr.io/fluxcd/flux-cli:v2.4.0",
    "nginx：latest", "nginx:1.27，redis:7.4", "nginx、redis、mysql:8.4", "https://hub.docker.com/",
    "https://docker.m.daocloud.io", "docker.io/", "m.example.io/",
    "hub.docker.com/syncthing/syncthing:latest", "https://hub.docker.com/_/nginx?tab=tags",
    "hub.docker.com/r/luodaoyi/kms-server/tags",
    "https://quay.io/repository/prometheus/alertmanager?tab=tags",
    "m.daocloud.io/docker.io/library/nginx:1.27", "docker.m.daocloud.io/node:latest",
    "k8s.gcr.io/pause:3.9", "nginx:1.27 arm64", "nginx:1.27 (arm64)", "nginx --platform arm64",
    "a" * 64, "docker.io/library/nginx:1.27.*", "ngnix",
]

def references(request: ImageRequest) -> list[Reference]:
    return [image.reference for image in request.images if image.reference is not None]


def patterns(request: ImageRequest) -> list[TagPattern]:
    return [image.pattern for image in request.images if image.pattern is not None]



def sources(request: Any) -> list[str]:
    return [str(image.reference or image.pattern) for image in request.images
            if image.reference or image.pattern]


@pytest.mark.parametrize("row", TABLE, ids=[row["title"][:60] for row in TABLE])
def test_title_table(row: dict[str, Any]) -> None:
    request = parse_request(row["title"], row.get("body", ""), [MIRROR],
                            mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    assert sources(request) == row["sources"]
    errors = [str(image.error) for image in request.images if image.error]
    assert len(errors) == len(row.get("invalid", [])), errors
    for error, fragment in zip(errors, row.get("invalid", []), strict=True):
        assert fragment in error
    assert [str(p) for p in request.platforms] == row["platforms"]
    notes = [str(note) for image in request.images for note in image.notes]
    assert [note.split(" ")[0] for note in notes] == row.get("notes", [])
    suggestions = [image.suggestion for image in request.images if image.suggestion]
    assert suggestions == ([row["suggestion"]] if "suggestion" in row else [])
    hints = [image.hint for image in request.images if image.hint]
    assert hints == ([row["hint"]] if "hint" in row else [])
    for image in request.images:
        assert [image.reference, image.pattern, image.error].count(None) == 2, image


def test_the_table_covers_every_promised_title_shape() -> None:
    titles = {row["title"] for row in TABLE}
    assert [title for title in PROMISED if title not in titles] == []
    assert len(TABLE) >= 100


REFUSED = [
    ("Nginx", "lowercase"),
    ("nginx -a", "command-line option"),
    ("--src-creds=user:pass nginx", "command-line option"),
    ("nginx; rm -rf /", "command-line option"),
    ("$(curl evil)", "no image named"),
    ("", "no image named"),
    ("   ", "no image named"),
    ("nginx\u202eexe", "non-ASCII"),
    ("a//b", "empty part"),
    ("nginx@sha256:" + "a" * 63, "64 hex characters, this one has 63"),
    ("nginx:1.27.*@sha256:" + "a" * 64, "cannot be pinned to a digest"),
]


@pytest.mark.parametrize(("title", "reason"), REFUSED)
def test_refused_titles_say_why(title: str, reason: str) -> None:
    images = parse_request(title, "", [MIRROR], mirror_prefixes=DEFAULT_MIRROR_PREFIXES).images
    assert any(image.error and reason in str(image.error) for image in images), images


def test_prose_and_command_words_never_become_images() -> None:
    for title in ("docker pull", "and", "&&", "Please mirror", "sync image", "[PORTER]",
                  "请求同步镜像", "latest", "1.27"):
        request = parse_request(title, "", mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
        assert references(request) == [] and patterns(request) == [], title


def test_a_mirror_prefix_says_what_it_dropped() -> None:
    [image] = parse_request("docker.m.daocloud.io/node:latest", "",
                            mirror_prefixes=DEFAULT_MIRROR_PREFIXES).images
    assert str(image.reference) == "docker.io/library/node:latest"
    assert [str(note) for note in image.notes] == [
        "docker.m.daocloud.io/ is another mirror's address for docker.io; the image is requested "
        "from docker.io itself"]


def test_mirror_prefixes_are_a_parameter_that_replaces_the_defaults() -> None:
    [kept] = parse_request("docker.m.daocloud.io/node", "", mirror_prefixes={}).images
    assert str(kept.reference) == "docker.m.daocloud.io/node:latest" and kept.notes == ()
    custom = {"cache.corp.example": "", "hub.corp.example": "docker.io"}
    request = parse_request("cache.corp.example/ghcr.io/a/b:1 hub.corp.example/redis:7", "",
                            mirror_prefixes=custom)
    assert sources(request) == ["ghcr.io/a/b:1", "docker.io/library/redis:7"]
    assert all(len(image.notes) == 1 for image in request.images)


def test_mirror_prefixes_from_settings_are_checked() -> None:
    assert mirror_prefixes_from({"Docker.M.Example.io/": "Docker.io"}) == {
        "docker.m.example.io": "docker.io"}
    assert mirror_prefixes_from({"m.example.io": None}) == {"m.example.io": ""}
    for bad in (["m.daocloud.io"], {"-bad host": ""}, {"m.example.io": 3}):
        with pytest.raises(ValueError, match="mirror_prefixes"):
            mirror_prefixes_from(bad)
    assert mirror_prefixes_from(DEFAULT_MIRROR_PREFIXES) == DEFAULT_MIRROR_PREFIXES


def test_every_default_mirror_prefix_is_read_back() -> None:
    for prefix, registry in DEFAULT_MIRROR_PREFIXES.items():
        if not registry:
            rest, expected = "ghcr.io/a/b:1", "ghcr.io/a/b:1"
        else:
            rest, expected = "a/b:1", f"{registry}/a/b:1"
        address = read_address(f"{prefix}/{rest}", (), DEFAULT_MIRROR_PREFIXES)
        assert address.text == expected and len(address.notes) == 1, prefix
        assert read_address(f"https://{prefix}", (), DEFAULT_MIRROR_PREFIXES).error, prefix


def test_tag_patterns_are_kept_unexpanded() -> None:
    [image] = parse_request("docker.io/library/nginx:1.27.*", "",
                            mirror_prefixes=DEFAULT_MIRROR_PREFIXES).images
    assert image.reference is None and image.pattern is not None
    assert (image.pattern.name, image.pattern.glob) == ("docker.io/library/nginx", "1.27.*")
    assert image.pattern.matches("1.27.3") and not image.pattern.matches("1.28.0")


def test_tag_and_digest_stay_as_given() -> None:
    digest = "sha256:" + "c" * 64
    [image] = parse_request(f"ghcr.io/a/b:v1@{digest}", "", mirror_prefixes=DEFAULT_MIRROR_PREFIXES).images
    assert image.reference is not None
    assert (image.reference.tag, image.reference.digest) == ("v1", digest)


def test_more_images_than_the_limit_are_refused_beyond_it() -> None:
    request = parse_request(" ".join(f"img{i}" for i in range(5)), "", max_images=3,
                            mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    assert len(references(request)) == 3
    assert [str(i.error) for i in request.images[3:]] == [
        "more than 3 images in one issue; open another issue for the remaining 2"] * 2


def test_bad_platform_is_reported() -> None:
    request = parse_request("nginx --platform=linux", "", mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    assert request.problems and "not a platform" in str(request.problems[0])


def test_platform_flag_without_a_value_is_reported() -> None:
    request = parse_request("nginx --platform", "", mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    assert [str(r) for r in references(request)] == ["docker.io/library/nginx:latest"]
    assert [str(p) for p in request.problems] == [
        "--platform needs a value (write --platform=linux/arm64)"]


def test_form_notes_never_change_the_request() -> None:
    base = parse_request("nginx:1.27", "### Platform\n\nlinux/arm64\n\n### Notes\n\n_No response_\n",
                         mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    for notes in ("No --platform needed", "I tried docker pull --platform=linux/s390x",
                  "also redis:7 and ghcr.io/a/b please", "--platform", "### Image"):
        body = f"### Platform\n\nlinux/arm64\n\n### Notes\n\n{notes}\n"
        request = parse_request("nginx:1.27", body, mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
        assert (request.images, request.platforms, request.problems) == (
            base.images, base.platforms, base.problems), notes


def test_huge_title_is_refused_quickly() -> None:
    request = parse_request("a" * 65536, "", mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    assert "longer than" in str(request.images[0].error)


@given(st.text(max_size=500), st.text(max_size=500))
def test_parsing_never_raises(title: str, body: str) -> None:
    request = parse_request(title, body, [MIRROR], mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    assert request.images
    for image in request.images:
        assert [image.reference, image.pattern, image.error].count(None) == 2


PATHOLOGICAL = ["请求" * 511 + "执", "[" * 1024, "a-" * 512, "docker pull " * 85, "sync image " * 93,
                "hub.docker.com/" * 68, "m.daocloud.io/" * 73, "a." * 512, ":" * 1024, "*?" * 512]


@pytest.mark.parametrize("title", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
def test_pathological_titles_finish(title: str) -> None:
    """Inputs that make a backtracking pattern explode (the CJK lead-ins once did, 2^n in the
    number of `请求`): each must be read; a generous deadline turns a hang into a failure."""
    def hung(*_: object) -> None:
        raise TimeoutError(f"parsing {title[:20]!r}… did not finish")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        request = parse_request(title, "", [MIRROR], mirror_prefixes=DEFAULT_MIRROR_PREFIXES)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert request.images
