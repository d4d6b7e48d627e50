"""Bad configuration and bad files: one line that says what to do, exit 2, nothing done."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from tests.fixtures import REPO_ROOT

BASE = {"MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"), "MIRROR_REGISTRY": "m.example.io",
        "PATH": "/usr/bin:/bin"}


def run(capsys: pytest.CaptureFixture[str], argv: list[str], **env: str) -> tuple[int, str]:
    try:
        code = main(argv, {**BASE, **env})
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def assert_one_line(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def event_file(tmp_path: Path, content: bytes | None) -> str:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize(("content", "words"), [
    (None, ("cannot read",)),
    (b"", ("empty",)),
    (b"{not json", ("not JSON",)),
    (b"\xff\xfe\x00garbage", ("UTF-8",)),
    (b"[1, 2]", ("not an object",)),
    (b'{"issue": {"number": "one"}}', ("GitHub's shape",)),
])
def test_bad_event_files(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                         content: bytes | None, words: tuple[str, ...]) -> None:
    code, err = run(capsys, ["handle-event"], GITHUB_EVENT_NAME="issues",
                    GITHUB_EVENT_PATH=event_file(tmp_path, content))
    assert code == 2
    assert_one_line(err, "GITHUB_EVENT_PATH" if content is not None else "cannot read", *words)


def test_event_path_unset_or_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, ["handle-event"])
    assert code == 2
    assert_one_line(err, "GITHUB_EVENT_PATH is not set")
    code, err = run(capsys, ["handle-event"], GITHUB_EVENT_PATH=str(tmp_path))
    assert code == 2
    assert_one_line(err, "is a directory")


@pytest.mark.parametrize(("variable", "value"), [
    ("MIRROR_TIMEOUT", "abc"), ("MIRROR_RETRY_ATTEMPTS", "three"), ("MIRROR_COPY_TIMEOUT", "-5"),
    ("MIRROR_RETRY_BASE_DELAY", "soon"),
])
def test_bad_numbers_in_the_environment(capsys: pytest.CaptureFixture[str], variable: str,
                                        value: str) -> None:
    code, err = run(capsys, ["plan", "nginx"], **{variable: value})
    assert code == 2
    assert_one_line(err, variable)


@pytest.mark.parametrize("jobs", ["0", "-3", "many"])
def test_jobs_below_one(capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    code, err = run(capsys, ["sync", "--jobs", jobs, "nginx"])
    assert code == 2
    assert_one_line(err, "--jobs")


@pytest.mark.parametrize(("argv", "words"), [
    (["resync", "--merge", "missing.json"], ("cannot read", "missing.json")),
    (["resync", "--index", "missing.json"], ("cannot read", "missing.json")),
    (["index", "--local-forge", "forge", "--report", "missing.json"], ("cannot read",)),
])
def test_missing_files(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch, argv: list[str],
                       words: tuple[str, ...]) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, argv)
    assert code == 2
    assert_one_line(err, *words)


@pytest.mark.parametrize(("content", "words"), [
    ("{", "not JSON"), ("[]", "not a JSON object"),
    ('{"results": []}', "not one mirror-bot resync --output wrote"),
    ('{"started_at": "", "finished_at": "", "results": [5]}', "each result with a target"),
    ('{"started_at": "", "finished_at": "", "results": [{"a": 1}]}', "each result with a target"),
])
def test_bad_report_files(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str,
                          words: str) -> None:
    report = tmp_path / "report.json"
    report.write_text(content)
    code, err = run(capsys, ["resync", "--merge", str(report)])
    assert code == 2
    assert_one_line(err, words)


def test_bad_index_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    index = tmp_path / "index.json"
    index.write_text('{"images": [{"source": "x"}]}')
    code, err = run(capsys, ["resync", "--index", str(index)])
    assert code == 2
    assert_one_line(err, "not one mirror-bot index wrote")


def test_unset_mirror_is_an_error_outside_actions(capsys: pytest.CaptureFixture[str]) -> None:
    # `plan` decides without a mirror (tests/integration/test_plan.py); copying needs one.
    code, err = run(capsys, ["sync", "nginx"], MIRROR_REGISTRY="")
    assert code == 2
    assert_one_line(err, "MIRROR_REGISTRY")


def test_unset_mirror_is_ghcr_of_the_owner_inside_actions() -> None:
    config = load_config({**BASE, "MIRROR_REGISTRY": "", "GITHUB_ACTIONS": "true",
                          "GITHUB_REPOSITORY_OWNER": "Acme-Corp", "GITHUB_ACTOR": "octocat",
                          "GITHUB_TOKEN": "ghs_token"})
    assert config.mirror == "ghcr.io/acme-corp"
    assert (config.mirror_setting.username, config.mirror_setting.password) == ("octocat", "ghs_token")
    assert "ghs_token" in set(config.secret_set)


@pytest.mark.parametrize(("value", "mirror"), [
    ("M.Example.io", "m.example.io"), ("M.example.io:5000/team/", "m.example.io:5000/team"),
])
def test_mirror_hosts_are_lowercased(value: str, mirror: str) -> None:
    assert load_config({**BASE, "MIRROR_REGISTRY": value}).mirror == mirror


@pytest.mark.parametrize("value", ["http://m.example.io", "m.example.io:99999",
                                   "m.example.io:port", "m.example.io/Team", "bad_host/x",
                                   "m.example.io,,n.example.io", "m.example.io,m.example.io"])
def test_bad_mirror_registries(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, err = run(capsys, ["plan", "nginx"], MIRROR_REGISTRY=value)
    assert code == 2
    assert_one_line(err, "MIRROR_REGISTRY")


def test_several_mirrors_the_first_is_the_primary() -> None:
    config = load_config({**BASE, "MIRROR_REGISTRY": "m.example.io, cn.example.io/mirror"})
    assert config.mirror == "m.example.io"
    assert config.namer.mirrors == ("m.example.io", "cn.example.io/mirror")


def test_an_output_that_is_a_folder_is_refused_before_any_work(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"started_at": "", "finished_at": "", "results": []}')
    code, err = run(capsys, ["resync", "--merge", str(report), "--output", str(tmp_path)])
    assert code == 2
    assert_one_line(err, "--output", "is a folder")
    afile = tmp_path / "afile"
    afile.write_text("")
    code, err = run(capsys, ["index", "--local-forge", str(tmp_path / "forge"), "--html",
                             str(afile)])
    assert code == 2
    assert_one_line(err, "--html", "is a file")


def test_a_naming_template_that_fails_is_one_line(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - docker.io/library/*\nsettings:\n  target_template: "
                         "\"{{ mirror }}/{{ registry }}/{{ repository }}{{ 1/0 }}\"\n")
    code, err = run(capsys, ["plan", "nginx"], MIRROR_ALLOWLIST=str(allowlist))
    assert code == 2
    assert_one_line(err, "naming template failed", "ZeroDivisionError")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300"])
def test_numbers_must_be_finite_and_sensible(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, err = run(capsys, ["plan", "nginx"], MIRROR_TIMEOUT=value)
    assert code == 2
    assert_one_line(err, "MIRROR_TIMEOUT")


@pytest.mark.parametrize("value", ["nan", "-5", "0", "inf"])
def test_the_sweeps_time_budget(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, err = run(capsys, ["sweep", "--time-budget", value])
    assert code == 2
    assert_one_line(err, "--time-budget")


def test_an_empty_local_forge_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["sweep", "--local-forge", ""])
    assert code == 2
    assert_one_line(err, "--local-forge")


@pytest.mark.parametrize("state", [
    '{"comments": {"1": 5}}', '{"comments": {}, "issues": []}', '{"comments": {}, "next_id": "x"}',
    '{"comments": {}, "known": []}', '{"comments": {"1": {"issue": 1, "body": "x"}}}',
])
def test_a_corrupt_local_forge_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           state: str) -> None:
    (tmp_path / "state.json").write_text(state)
    code, err = run(capsys, ["index", "--local-forge", str(tmp_path)])
    assert code == 2
    assert_one_line(err, "--local-forge", "state.json")


def test_registries_conf_insecure_must_be_a_boolean(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nlocation = "m.example.io"\ninsecure = "false"\n')
    code, err = run(capsys, ["sync", "nginx"], CONTAINERS_REGISTRIES_CONF=str(conf))
    assert code == 2
    assert_one_line(err, "insecure", "true or false")


def test_every_secret_the_run_holds_is_redacted(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths": {"cn.example.io": {"auth": "dXNlcjpzZWNvbmQtcGFzc3dvcmQ="}}}')
    config = load_config({**BASE, "REGISTRY_AUTH_FILE": str(auth), "MIRROR_PASSWORD": "first",
                          "MIRROR_USERNAME": "u", "GITHUB_TOKEN": "ghs_token_value"})
    assert {"first", "second-password", "ghs_token_value"} <= set(config.secret_set)


# -- each command checks the sections it uses, and says how many problems there are -----------

BAD_GITHUB = {"MIRROR_GITHUB_TIMEOUT": "soon", "MIRROR_GITHUB_BACKOFF": "later"}


def test_a_bad_github_setting_does_not_stop_plan_or_sync(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["plan", "nginx"], **BAD_GITHUB)
    assert (code, err) == (0, "")
    # Refused by the allowlist (exit 1, no registry asked): the configuration was accepted.
    code, err = run(capsys, ["sync", "quay.io/nobody/x:1"], **BAD_GITHUB)
    assert code == 1
    assert "MIRROR_GITHUB" not in err


def test_a_bad_github_setting_stops_a_command_that_talks_to_github(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, ["sweep"], **BAD_GITHUB, GITHUB_TOKEN="t", GITHUB_REPOSITORY="a/b")
    assert code == 2
    assert_one_line(err, "mirror-bot sweep: MIRROR_GITHUB_BACKOFF='later' is not a duration",
                    "(1 more: run mirror-bot doctor)")
    # With the local forge, GitHub is not asked, so its settings are not checked.
    code, err = run(capsys, ["sweep", "--local-forge", str(tmp_path / "forge")], **BAD_GITHUB)
    assert code == 0, err


def test_the_first_problem_says_how_many_more_the_doctor_lists(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["plan", "nginx"], MIRROR_TIMEOUT="abc", MIRROR_BLOB_CHUNK="0",
                    MIRROR_COPY_PROCESSES="many")
    assert code == 2
    assert_one_line(err, "mirror-bot plan: MIRROR_TIMEOUT='abc' is not a duration",
                    "(2 more: run mirror-bot doctor)")
    code, err = run(capsys, ["plan", "nginx"], MIRROR_TIMEOUT="abc")
    assert code == 2
    assert_one_line(err, "MIRROR_TIMEOUT='abc'")
    assert "more" not in err


def test_an_ignored_event_needs_no_configuration(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    code, err = run(capsys, ["handle-event"], GITHUB_EVENT_NAME="push",
                    GITHUB_EVENT_PATH=event_file(tmp_path, b'{"ref": "main"}'),
                    MIRROR_REGISTRY="", MIRROR_TIMEOUT="abc")
    assert code == 0
    assert_one_line(err, "ignored: the push event is not about an issue")


def test_check_allowlist_reads_only_the_file_it_checks(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The configured allowlist is not loaded first: a large one would be parsed twice.
    def refuse(path: Path) -> None:
        raise AssertionError(f"the configured allowlist {path} was loaded")

    monkeypatch.setattr("bot.config.load_allowlist", refuse)
    checked = tmp_path / "allowlist.yaml"
    checked.write_text("allow:\n  - docker.io/library/*\n")
    code, err = run(capsys, ["check-allowlist", str(checked)], MIRROR_ALLOWLIST=str(checked))
    assert (code, err) == (0, "")
