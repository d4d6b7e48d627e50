"""A record is acted on only while today's allowlist and naming still vouch for it."""

from __future__ import annotations

import pytest

from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.records.record import RecordedImage
from bot.records.trust import Standing, check_image

ALLOWLIST, _ = parse_allowlist("allow:\n  - docker.io/library/*\ndeny:\n  - docker.io/library/evil\n")
NAMER = Namer("m.example.io")
DIGEST = "sha256:" + "cd" * 32


@pytest.mark.parametrize(("source", "target", "standing", "reason"), [
    ("docker.io/library/nginx:1.27", "m.example.io/docker.io/library/nginx:1.27",
     Standing.TRUSTED, ""),
    ("docker.io/library/evil:1", "m.example.io/docker.io/library/evil:1",
     Standing.REJECTED, "not allowed today"),
    ("quay.io/other/x:1", "m.example.io/quay.io/other/x:1", Standing.REJECTED, "not allowed"),
    ("not a reference", "m.example.io/x", Standing.REJECTED, "not a reference"),
    ("nginx:1.27", "m.example.io/docker.io/library/nginx:1.27", Standing.REJECTED,
     "normalised"),
    ("docker.io/library/nginx:1.27", "m.example.io/docker.io/library/redis:1.27",
     Standing.STALE, "today's address"),
    ("docker.io/library/nginx:1.27", "old.example.io/docker.io/library/nginx:1.27",
     Standing.STALE, "today's address"),
])
def test_standing(source: str, target: str, standing: Standing, reason: str) -> None:
    check = check_image(RecordedImage(source, target, DIGEST), ALLOWLIST, NAMER)
    assert check.standing == standing
    assert reason in check.reason


def test_platforms_must_parse() -> None:
    image = RecordedImage("docker.io/library/nginx:1", "m.example.io/docker.io/library/nginx:1",
                          DIGEST, ("linux/not-an-arch",))
    assert check_image(image, ALLOWLIST, NAMER).standing == Standing.REJECTED
