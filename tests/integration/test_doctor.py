"""`mirror-bot doctor` end to end: real skopeo, the test bed's real registries, the GitHub
stand-in over real HTTP, and a registry that refuses '.' in path components.

The doctor prints one line per check (`✓ name: detail`, `✗ name: problem — fix`, `! …` for a
warning, `- …` for a skipped check) and exits 0 when nothing failed, 1 otherwise; a
configuration problem is a failed check, never exit 2. It writes nothing: not to GitHub, not to
a mirror (an upload started and cancelled).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.flows.doctor_mirrors import dotless_template
from bot.policy.naming import Namer
from sandbox.dotless_registry import DotlessRegistry, serve_dotless
from sandbox.github_standin import GitHubStandIn
from sandbox.registries import free_port
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, SOURCE_PASSWORD, SOURCE_USER, Sandbox

PROBE_NAME = "docker.io/library/mirror-bot-doctor"


def doctor(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["doctor"], env)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def line(lines: list[str], name: str) -> str:
    [found] = [text for text in lines if text[2:].startswith(f"{name}: ")]
    return found


def with_github(testbed: Sandbox, github: GitHubStandIn, **extra: str) -> dict[str, str]:
    return testbed.env(**{"GITHUB_TOKEN": github.token, "GITHUB_REPOSITORY": github.repository,
                          "GITHUB_API_URL": github.base_url, "MIRROR_GITHUB_BACKOFF": "0.01",
                          "MIRROR_GITHUB_TIMEOUT": "5", **extra})


def mirror_get(testbed: Sandbox, path: str) -> tuple[int, dict]:
    login = base64.b64encode(f"{MIRROR_USER}:{MIRROR_PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"http://{testbed.mirror.host}{path}",
                                     headers={"Authorization": f"Basic {login}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_nothing_left_at_the_mirror(testbed: Sandbox) -> None:
    """Every upload the doctor started was cancelled, none committed, and the probe repository
    is unknown to the mirror."""
    requests = testbed.mirror.requests()
    started = [path for method, path, status in requests if method == "POST" and status == 202]
    cancelled = [path for method, path, status in requests if method == "DELETE" and status == 204]
    assert started and len(cancelled) == len(started)
    assert not [r for r in requests if r[0] in {"PUT", "PATCH"}]
    status, _ = mirror_get(testbed, f"/v2/{PROBE_NAME}/tags/list")
    assert status == 404
    status, catalog = mirror_get(testbed, "/v2/_catalog?n=1000")
    assert status == 200
    assert PROBE_NAME not in catalog["repositories"]


@pytest.fixture
def labelled(github: GitHubStandIn) -> GitHubStandIn:
    github.add_label("sync image")
    return github


def test_a_good_set_up_passes_every_check_and_writes_nothing(
        testbed: Sandbox, labelled: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    testbed.mirror.mark()
    labelled.add_issue("nginx:1.27")
    code, lines = doctor(with_github(testbed, labelled), capsys)
    assert code == 0
    assert [text[0] for text in lines] == ["✓"] * len(lines)
    assert [text[2:].partition(": ")[0] for text in lines] == [
        "skopeo", "allowlist", "registries.conf", "configuration", f"mirror {testbed.mirror.host}",
        "quota docker.io", "github issues", "github label"]
    assert line(lines, "quota docker.io") == (  # the test bed's upstream tells no quota
        "✓ quota docker.io: docker.io tells no pull quota (anonymous): a paid account, or no limit")
    assert line(lines, "configuration").endswith(
        f"mirror {testbed.mirror.host} (primary), from MIRROR_REGISTRY")
    assert f"{testbed.mirror.host}/{PROBE_NAME}" in line(lines, f"mirror {testbed.mirror.host}")
    assert "1 open request" in line(lines, "github issues")
    assert labelled.writes() == []
    assert labelled.log == [("GET", "/repos/acme/mirror/issues"),
                            ("GET", "/repos/acme/mirror/labels/sync%20image")]
    assert_nothing_left_at_the_mirror(testbed)


def test_an_unreachable_mirror_fails_naming_it(
        testbed: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = f"127.0.0.1:{free_port()}"
    code, lines = doctor(testbed.env(MIRROR_REGISTRY=mirror), capsys)
    assert code == 1
    failed = line(lines, f"mirror {mirror}")
    assert failed.startswith(f"✗ mirror {mirror}: cannot reach {mirror}")
    assert "MIRROR_REGISTRY" in failed.partition(" — ")[2]
    assert line(lines, "configuration").startswith("✓")


def test_wrong_credentials_fail_naming_the_mirror_and_the_fix(
        testbed: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    testbed.mirror.mark()
    code, lines = doctor(testbed.env(MIRROR_PASSWORD="wrong-password-5e1d"), capsys)
    assert code == 1
    failed = line(lines, f"mirror {testbed.mirror.host}")
    assert failed.startswith(f"✗ mirror {testbed.mirror.host}: {testbed.mirror.host} refused our "
                             "credentials")
    assert "fix MIRROR_USERNAME/MIRROR_PASSWORD" in failed.partition(" — ")[2]
    assert "wrong-password-5e1d" not in "\n".join(lines)
    assert not [r for r in testbed.mirror.requests() if r[0] in {"PUT", "PATCH"}]


def test_missing_credentials_say_which_variables_to_set(
        testbed: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(testbed.env(MIRROR_USERNAME="", MIRROR_PASSWORD=""), capsys)
    assert code == 1
    failed = line(lines, f"mirror {testbed.mirror.host}")
    assert "we have no credentials" in failed
    assert failed.endswith(f"set MIRROR_USERNAME and MIRROR_PASSWORD to a login that may push to "
                           f"{testbed.mirror.host}")


def test_a_second_mirror_takes_its_login_from_registry_auth_file(
        testbed: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mirrors = f"{testbed.mirror.host},{testbed.private.host}"
    code, lines = doctor(testbed.env(MIRROR_REGISTRY=mirrors), capsys)
    assert code == 1
    assert line(lines, f"mirror {testbed.mirror.host}").startswith("✓")
    failed = line(lines, f"mirror {testbed.private.host}")
    assert failed.startswith("✗") and "set REGISTRY_AUTH_FILE" in failed
    auth = tmp_path / "auth.json"
    login = base64.b64encode(f"{SOURCE_USER}:{SOURCE_PASSWORD}".encode()).decode()
    auth.write_text(json.dumps({"auths": {testbed.private.host: {"auth": login}}}))
    code, lines = doctor(testbed.env(MIRROR_REGISTRY=mirrors, REGISTRY_AUTH_FILE=str(auth)),
                         capsys)
    assert code == 0, lines
    assert line(lines, "configuration").endswith(
        f"mirrors {testbed.mirror.host} (primary), {testbed.private.host}, from MIRROR_REGISTRY")
    assert line(lines, "auth file") == f"✓ auth file: {auth}: logins for {testbed.private.host}"
    assert line(lines, f"mirror {testbed.private.host}").startswith("✓")


def test_a_broken_auth_file_fails_and_the_mirrors_are_skipped(
        testbed: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text("{not json")
    code, lines = doctor(testbed.env(REGISTRY_AUTH_FILE=str(auth)), capsys)
    assert code == 1
    assert line(lines, "auth file").startswith("✗ auth file: cannot read auth file")
    assert line(lines, f"mirror {testbed.mirror.host}") == (
        f"- mirror {testbed.mirror.host}: skipped: auth file must be fixed first (above)")


def test_the_ghcr_default_in_actions_names_packages_write(
        testbed: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No real GHCR: registries.conf sends ghcr.io/acme to the test bed's mirror, which refuses
    the workflow token as GHCR refuses one without `packages: write`."""
    conf = tmp_path / "registries.conf"
    conf.write_text(testbed.registries_conf.read_text() + (
        f'\n[[registry]]\nprefix = "ghcr.io/acme"\nlocation = "{testbed.mirror.host}/ghcr.io/acme"'
        "\ninsecure = true\n"))
    env = testbed.env(MIRROR_REGISTRY="", MIRROR_USERNAME="", MIRROR_PASSWORD="",
                      CONTAINERS_REGISTRIES_CONF=str(conf), GITHUB_ACTIONS="true",
                      GITHUB_REPOSITORY_OWNER="Acme", GITHUB_ACTOR="octocat",
                      GITHUB_TOKEN="ghs_workflow_token_without_packages_write")
    code, lines = doctor(env, capsys)
    assert code == 1
    assert line(lines, "configuration").endswith(
        "mirror ghcr.io/acme (primary), from the GHCR default inside GitHub Actions, pushed "
        "with GITHUB_TOKEN")
    failed = line(lines, "mirror ghcr.io/acme")
    assert failed.startswith("✗ mirror ghcr.io/acme:")
    assert "give the job `permissions: packages: write`" in failed.partition(" — ")[2]
    assert "ghs_workflow_token_without_packages_write" not in "\n".join(lines)


def test_an_unset_mirror_outside_actions_is_a_failed_check_not_exit_2(
        testbed: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(testbed.env(MIRROR_REGISTRY=""), capsys)
    assert code == 1
    failed = line(lines, "configuration")
    assert failed.startswith("✗ configuration:") and "MIRROR_REGISTRY" in failed
    assert line(lines, "mirrors") == "- mirrors: skipped: the configuration did not load (above)"
    assert line(lines, "skopeo").startswith("✓") and line(lines, "allowlist").startswith("✓")


def test_a_bad_allowlist_names_the_first_problem_and_the_count(
        testbed: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - nginx\n  - docker.io/library/*\n  - 42\n")
    code, lines = doctor(testbed.env(MIRROR_ALLOWLIST=str(allowlist)), capsys)
    assert code == 1
    failed = line(lines, "allowlist")
    assert failed.startswith(f"✗ allowlist: 3 problem(s): {allowlist}:2: 'nginx' is not written "
                             "normalised")
    assert "(and 2 more)" in failed
    assert failed.endswith(f"run 'mirror-bot check-allowlist {allowlist}' and fix them")
    assert line(lines, "configuration") == (
        "- configuration: skipped: it needs a valid allowlist (above)")


def test_an_allowlist_with_only_overlaps_fails_but_the_rest_is_still_checked(
        testbed: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - docker.io/library/*\n  - docker.io/library/nginx\n")
    code, lines = doctor(testbed.env(MIRROR_ALLOWLIST=str(allowlist)), capsys)
    assert code == 1
    assert "shadowed" in line(lines, "allowlist")
    assert line(lines, "configuration").startswith("✓")
    assert line(lines, f"mirror {testbed.mirror.host}").startswith("✓")


def test_a_bad_registries_conf_fails_and_skips_the_mirrors(
        testbed: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text("[[registry]\nlocation = ")
    code, lines = doctor(testbed.env(CONTAINERS_REGISTRIES_CONF=str(conf)), capsys)
    assert code == 1
    assert line(lines, "registries.conf").startswith(
        f"✗ registries.conf: cannot read registries.conf {conf}")
    assert line(lines, f"mirror {testbed.mirror.host}") == (
        f"- mirror {testbed.mirror.host}: skipped: registries.conf must be fixed first (above)")


def test_every_configuration_problem_is_listed_on_a_line_of_its_own(
        testbed: Sandbox, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    env = with_github(testbed, github, MIRROR_TIMEOUT="abc", MIRROR_BLOB_CHUNK="0",
                      MIRROR_GITHUB_BACKOFF="later")
    code, lines = doctor(env, capsys)
    assert code == 1
    failed = [text for text in lines if text.startswith("✗")]
    assert failed == [
        "✗ configuration: MIRROR_TIMEOUT='abc' is not a duration (seconds, or with a unit: 500ms, "
        "90s, 5m, 1h); unset it or write e.g. MIRROR_TIMEOUT=30",
        "✗ configuration: MIRROR_BLOB_CHUNK='0' is not a size: it must be at least one byte (e.g. "
        "5GiB or 500MB)",
        "✗ github settings: MIRROR_GITHUB_BACKOFF='later' is not a duration (seconds, or with a "
        "unit: 500ms, 90s, 5m, 1h); unset it or write e.g. MIRROR_GITHUB_BACKOFF=1"]
    assert line(lines, "mirrors") == "- mirrors: skipped: the configuration did not load (above)"
    assert line(lines, "github") == "- github: skipped: the GitHub settings must be fixed first (above)"
    assert github.log == []  # nothing asked of GitHub with settings that are wrong


def test_github_is_skipped_without_a_token_and_a_repository(
        testbed: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(testbed.env(GITHUB_REPOSITORY="acme/mirror"), capsys)
    assert code == 0
    assert line(lines, "github").startswith("- github: skipped: GITHUB_TOKEN is not set")


def test_a_missing_request_label_fails_without_writing(
        testbed: Sandbox, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(with_github(testbed, github), capsys)
    assert code == 1
    assert line(lines, "github issues").startswith("✓")
    failed = line(lines, "github label")
    assert failed.startswith("✗ github label: acme/mirror has no label 'sync image' — create it")
    assert github.writes() == [] and github.labels == set()


def test_a_renamed_request_label_is_the_one_checked(
        testbed: Sandbox, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    github.add_label("mirror/request")
    code, lines = doctor(with_github(testbed, github, MIRROR_REQUEST_LABEL="mirror/request"),
                         capsys)
    assert code == 0
    assert line(lines, "github label") == "✓ github label: 'mirror/request' exists in acme/mirror"


def test_a_refused_token_fails_the_issues_read_and_skips_the_label(
        testbed: Sandbox, labelled: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    env = with_github(testbed, labelled, GITHUB_TOKEN="ghp_revoked_token_0123456789")
    code, lines = doctor(env, capsys)
    assert code == 1
    failed = line(lines, "github issues")
    assert failed.startswith("✗ github issues: cannot read acme/mirror's issues") and "401" in failed
    assert "check GITHUB_TOKEN" in failed.partition(" — ")[2]
    assert line(lines, "github label") == (
        "- github label: skipped: reading the issues failed (above)")
    assert "ghp_revoked_token_0123456789" not in "\n".join(lines)
    assert labelled.writes() == []


# -- a registry that refuses '.' in path components -----------------------------------------

@pytest.fixture
def dotless(testbed: Sandbox, tmp_path: Path) -> Iterator[tuple[DotlessRegistry, Path]]:
    with serve_dotless(DotlessRegistry()) as registry:
        conf = tmp_path / "registries.conf"
        conf.write_text(testbed.registries_conf.read_text() +
                        f'\n[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
        yield registry, conf


def test_a_registry_that_refuses_dots_gets_a_template_that_avoids_them(
        testbed: Sandbox, dotless: tuple[DotlessRegistry, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    registry, conf = dotless
    env = testbed.env(MIRROR_REGISTRY=registry.host, CONTAINERS_REGISTRIES_CONF=str(conf))
    code, lines = doctor(env, capsys)
    assert code == 1
    # '-' would map registry.example.com and registry-example.com onto one name: '_' is named.
    with pytest.raises(ConfigError, match="collides"):
        Namer(registry.host, dotless_template("-")).validate()
    template = "{{ mirror }}/{{ registry | replace('.', '_') }}/{{ repository }}"
    Namer(registry.host, template).validate()
    failed = line(lines, f"mirror {registry.host}")
    assert failed.startswith(
        f"✗ mirror {registry.host}: {registry.host} refuses '.' in path components: it refused "
        f"{registry.host}/{PROBE_NAME} (")
    assert "invalid repository name" in failed
    assert f"but accepted {registry.host}/docker_io/library/mirror-bot-doctor" in failed
    assert f'set `target_template: "{template}"` under settings:' in failed
    assert [(method, status) for method, _, status in registry.seen] == [
        ("POST", 400), ("POST", 202), ("DELETE", 204)]
    assert registry.open_uploads == {}

    # The advice, followed, passes.
    allowlist = testbed.workdir / "dotless-allowlist.yaml"
    allowlist.write_text(testbed.allowlist.read_text() + f'  target_template: "{template}"\n')
    code, lines = doctor({**env, "MIRROR_ALLOWLIST": str(allowlist)}, capsys)
    assert code == 0, lines
    assert line(lines, f"mirror {registry.host}").startswith("✓")
    assert registry.open_uploads == {}


# -- skopeo ---------------------------------------------------------------------------------

def fake_skopeo(folder: Path, says: str) -> str:
    folder.mkdir()
    script = folder / "skopeo"
    script.write_text(f"#!/bin/sh\necho '{says}'\n")
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_an_old_skopeo_is_a_warning_not_a_failure(
        testbed: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", fake_skopeo(tmp_path / "bin", "skopeo version 1.4.1"))
    code, lines = doctor(testbed.env(), capsys)
    assert code == 0
    assert line(lines, "skopeo") == (
        "! skopeo: version 1.4.1 is older than 1.9, the oldest tested — install a newer skopeo")


def test_a_missing_skopeo_fails(testbed: Sandbox, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, lines = doctor(testbed.env(), capsys)
    assert code == 1
    assert line(lines, "skopeo") == ("✗ skopeo: skopeo is not installed (skopeo) — install "
                                     "skopeo 1.9 or newer (apt-get install skopeo)")
    assert line(lines, f"mirror {testbed.mirror.host}").startswith("✓")  # checked without it
