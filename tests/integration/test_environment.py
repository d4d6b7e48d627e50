"""skopeo runs with the environment config builds for it: PATH, HOME and the proxy variables
arrive, our secrets never do (a real sync and a doctor run, skopeo behind a script that records
what it was given). The rule that nothing but cli.py and config.py reads the environment is
checked in tests/unit/test_environment.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import CHILD_VARIABLES, load_config
from sandbox.images import build_image, push
from tests.fixtures import MIRROR_PASSWORD, Sandbox

SECRETS = {"GITHUB_TOKEN": "ghs_token_never_in_skopeo_1f2e",
           "MIRROR_AUTH_JSON": '{"auths": {"x": {"auth": "c2VjcmV0LWF1dGgtanNvbg=="}}}',
           "AWS_SECRET_ACCESS_KEY": "aws-secret-never-in-skopeo"}


def recording_skopeo(folder: Path, dump: Path) -> str:
    """A PATH whose `skopeo` writes its environment to `dump`, then runs the real skopeo."""
    real = shutil.which("skopeo")
    assert real is not None
    folder.mkdir()
    script = folder / "skopeo"
    script.write_text(f"#!/bin/sh\nenv >> {dump}\necho ---- >> {dump}\nexec {real} \"$@\"\n")
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def environments(dump: Path) -> list[dict[str, str]]:
    return [dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
            for block in dump.read_text().split("----\n") if block.strip()]


def test_skopeo_gets_path_home_and_proxies_never_a_token(
        testbed: Sandbox, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the process entry, as a workflow runs it: a real sync and the doctor's version
    check, both with real skopeo (behind a recorder), from a parent holding secrets."""
    dump = tmp_path / "environments.txt"
    home, tmp, runtime = tmp_path / "home", tmp_path / "tmp", tmp_path / "runtime"
    for folder in (home, tmp, runtime):
        folder.mkdir()
    passed = {
        "PATH": recording_skopeo(tmp_path / "bin", dump), "HOME": str(home), "TMPDIR": str(tmp),
        "XDG_RUNTIME_DIR": str(runtime), "LANG": "C.UTF-8",
        # Unreachable proxies: loopback (the test bed) is never proxied, and NO_PROXY says so.
        "HTTPS_PROXY": "http://proxy.invalid:3128", "http_proxy": "http://proxy.invalid:3128",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "SSL_CERT_DIR": "/etc/ssl/certs",
    }
    env = testbed.env(**passed, **SECRETS)
    image = testbed.seed(name)
    # The engine puts an image's manifests and a plain signature itself; skopeo copies what
    # bytes and blobs cannot make whole: here a cosign signature tag that holds an index.
    signature_tag = image.index_digest.replace(":", "-") + ".sig"
    push(build_image(testbed.workdir / "sig" / name, signature_tag, seed=f"{name}-sig",
                     platforms=("linux/amd64",)),
         f"{testbed.upstream.host}/docker.io/library/{name}:{signature_tag}")
    assert main(["sync", f"docker.io/library/{name}:1.0"], env) == 0
    main(["doctor"], env)  # its verdict is test_doctor.py's; here, how it runs skopeo
    capsys.readouterr()
    seen = environments(dump)
    assert len(seen) >= 2  # the signature's copy and `skopeo --version`
    for child in seen:
        assert {key: child.get(key) for key in passed} == passed
        leaked = [key for key, value in child.items()
                  if key.startswith(("GITHUB_", "MIRROR_", "AWS_")) or key in SECRETS
                  or any(secret in value for secret in (*SECRETS.values(), MIRROR_PASSWORD))]
        assert leaked == []
        assert set(child) <= {*CHILD_VARIABLES, "PWD", "OLDPWD", "SHLVL", "_"}  # sh adds these


def test_the_config_of_a_library_caller_builds_the_same_environment(testbed: Sandbox) -> None:
    config = load_config(testbed.env(GITHUB_TOKEN=SECRETS["GITHUB_TOKEN"], HOME="/home/x"))
    assert config.skopeo_environment["HOME"] == "/home/x"
    assert config.skopeo_environment["PATH"] == os.environ["PATH"]
    assert "GITHUB_TOKEN" not in config.skopeo_environment
    assert "MIRROR_PASSWORD" not in config.skopeo_environment
