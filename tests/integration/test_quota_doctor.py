"""`mirror-bot doctor` reports each quota-limited registry's pull quota, and whether our pulls
are anonymous, as a warning and never a failure: real registries behind the Docker Hub stand-in
(the fault proxy's PullQuota), real skopeo, the doctor's one manifest HEAD (no pull)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from sandbox.fault_proxy import FaultProxy, PullQuota, Rule, serve_proxy
from tests.fixtures import SOURCE_PASSWORD, SOURCE_USER, Sandbox


@pytest.fixture
def hub(testbed: Sandbox, tmp_path: Path) -> Iterator[tuple[FaultProxy, Path]]:
    with serve_proxy(FaultProxy(testbed.upstream.host, quota=PullQuota(100))) as proxy:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{proxy.host}/docker.io"\n'
            f'insecure = true\n[[registry]]\nlocation = "{testbed.mirror.host}"\ninsecure = true\n')
        yield proxy, conf


def quota_line(testbed: Sandbox, conf: Path, capsys: pytest.CaptureFixture[str],
               **extra: str) -> tuple[int, str]:
    code = main(["doctor"], testbed.env(CONTAINERS_REGISTRIES_CONF=str(conf), **extra))
    lines = capsys.readouterr().out.splitlines()
    [found] = [text for text in lines if text[2:].startswith("quota docker.io: ")]
    return code, found


def test_an_anonymous_quota_is_a_warning_that_says_how_to_sign_in(
        testbed: Sandbox, hub: tuple[FaultProxy, Path], capsys: pytest.CaptureFixture[str]) -> None:
    proxy, conf = hub
    assert proxy.quota is not None
    proxy.quota.spent = 24
    code, found = quota_line(testbed, conf, capsys)
    assert code == 0  # a warning fails nothing
    assert found == ("! quota docker.io: 76 of 100 pulls left per 6 h, counted for 127.0.0.1 "
                     "(anonymous) — sign in (a login for it in REGISTRY_AUTH_FILE) to count pulls "
                     "per account rather than per address; a request beyond the quota waits "
                     "(deferred) and resumes by itself")
    heads = [(method, path) for method, path, _ in proxy.seen if "/manifests/" in path]
    assert heads == [("HEAD", "/v2/docker.io/ratelimitpreview/test/manifests/latest")]
    assert proxy.quota.spent == 24  # a HEAD is no pull


def test_a_signed_in_quota_names_the_login(testbed: Sandbox, hub: tuple[FaultProxy, Path],
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    proxy, conf = hub
    auth = tmp_path / "auth.json"
    login = base64.b64encode(f"{SOURCE_USER}:{SOURCE_PASSWORD}".encode()).decode()
    auth.write_text(json.dumps({"auths": {f"{proxy.host}/docker.io": {"auth": login}}}))
    code, found = quota_line(testbed, conf, capsys, REGISTRY_AUTH_FILE=str(auth))
    assert code == 0
    assert found == (f"! quota docker.io: 100 of 100 pulls left per 6 h, counted for 127.0.0.1 "
                     f"(signed in as {SOURCE_USER}) — a request beyond the quota waits (deferred) "
                     "and resumes by itself")
    assert SOURCE_PASSWORD not in found


def test_a_spent_quota_is_a_warning_too(testbed: Sandbox, hub: tuple[FaultProxy, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    proxy, conf = hub
    proxy.add(Rule("status", "HEAD", "/manifests/", times=1, status=429))
    code, found = quota_line(testbed, conf, capsys)
    assert code == 0
    assert found == ("! quota docker.io: the pull quota is spent for now (anonymous): docker.io "
                     "answers 429 — requests wait (deferred) and resume by themselves when pulls "
                     "come back")
