"""The skopeo runner against real skopeo and registries: classification by side, redaction,
credentials only in a private authfile that is gone when the run is."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.errors import ErrorKind, TransferError
from bot.image.reference import parse
from bot.registry import authfile
from bot.registry.containers_conf import Credentials
from bot.registry.skopeo import Skopeo
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, Sandbox


def test_copy_passes_credentials_in_a_private_authfile_only(testbed: Sandbox, name: str,
                                                            tmp_path: Path) -> None:
    image = testbed.seed(name)
    seen = tmp_path / "argv.txt"
    wrapper = tmp_path / "skopeo-wrapper"
    # A wrapper around the real skopeo that records its argv and the authfile's and its
    # directory's modes.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {seen}\n'
        'prev=""; for a in "$@"; do if [ "$prev" = "--authfile" ]; then '
        f'stat -c %a "$a" "$(dirname "$a")" >> {seen}; fi; prev="$a"; done\n'
        'exec skopeo "$@"\n')
    wrapper.chmod(0o755)
    credentials = Credentials()
    credentials.add(testbed.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
    skopeo = Skopeo(testbed.registries_conf, credentials, timeout=60, binary=str(wrapper))
    source = parse(f"docker.io/library/{name}@{image.index_digest}")
    target = parse(f"{testbed.mirror.host}/copied/{name}:1.0")
    skopeo.copy(source, target)
    lines = seen.read_text().splitlines()
    assert MIRROR_PASSWORD not in "\n".join(lines)
    assert lines[-2:] == ["600", "700"]
    authfile_path = Path(lines[lines.index("--authfile") + 1])
    assert authfile_path.parent.name.startswith(f"{authfile.PREFIX}{os.getpid()}-")
    assert not authfile_path.exists() and authfile_path.parent.exists()
    assert "--all" in lines and "--preserve-digests" in lines
    skopeo.close()
    assert not authfile_path.parent.exists()


def test_a_mirror_that_refuses_the_push_is_mirror_unauthorized(testbed: Sandbox, name: str) -> None:
    image = testbed.seed(name)
    credentials = Credentials()
    credentials.add(testbed.mirror.host, MIRROR_USER, "wrong-password")
    skopeo = Skopeo(testbed.registries_conf, credentials, timeout=60)
    with pytest.raises(TransferError) as caught:
        skopeo.copy(parse(f"docker.io/library/{name}@{image.index_digest}"),
                    parse(f"{testbed.mirror.host}/refused/{name}:1.0"))
    assert caught.value.kind == ErrorKind.MIRROR_UNAUTHORIZED and caught.value.transient
    testbed.seed(name, registry=testbed.private, prefix="private.example.io")
    with pytest.raises(TransferError) as caught:  # a source that refuses us: final
        skopeo.copy(parse(f"private.example.io/{name}:1.0"),
                    parse(f"{testbed.mirror.host}/refused/{name}:1.0"))
    assert caught.value.kind == ErrorKind.UNAUTHORIZED and not caught.value.transient
    skopeo.close()


def test_stale_authfile_directories_of_gone_runs_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    me = os.getpid()
    started = authfile._start_time(me)
    dead = tmp_path / f"{authfile.PREFIX}{gone.pid}-{started}-abc"
    reused = tmp_path / f"{authfile.PREFIX}{me}-1{started}-abc"  # our pid, another start: reused
    live = tmp_path / f"{authfile.PREFIX}{me}-{started}-abc"
    other = tmp_path / "mirror-bot-something-else"
    for folder in (dead, reused, live, other):
        folder.mkdir()
        (folder / "auth.json").write_text("{}")
    assert sorted(authfile.remove_stale(tmp_path)) == sorted([dead, reused])
    assert live.exists() and other.exists() and not dead.exists() and not reused.exists()


def test_skopeo_failure_is_classified_and_redacted(testbed: Sandbox) -> None:
    credentials = Credentials()
    credentials.add("127.0.0.1:9", "user", "fake-secret-value")
    skopeo = Skopeo(testbed.registries_conf, credentials, timeout=60)
    with pytest.raises(TransferError) as caught:
        skopeo.copy(parse("docker.io/library/absent-image:1"), parse("127.0.0.1:9/x:1"))
    assert caught.value.kind == "not_found"
    assert "fake-secret-value" not in caught.value.message
    skopeo.close()
