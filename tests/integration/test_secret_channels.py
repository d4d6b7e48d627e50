"""No credential a registry echoes reaches published output: one test per output channel.

The mirror is sandbox/echo_registry.py: it refuses every push with an error that quotes the
credentials it received (the decoded `user:password`, the raw base64 of it, the Bearer token).
The source is the test bed's real upstream registry, the tracker the GitHub stand-in over real
HTTP, and the bot runs as the workflows run it, in a process of its own. No spelling of any
secret — as written, `user:password`, its base64 (standard and URL-safe, padded or not),
Markdown-escaped, JSON-escaped, the tokens the echo issued, GITHUB_TOKEN — may appear in the
issue comment, the job summary, stderr, `sync --json`, the resync report or the doctor's lines;
and each channel must still carry the registry's own words (redacted), so that no test passes by
dropping the message.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.redaction import Secrets
from bot.render import text
from sandbox.echo_registry import MARKER, EchoRegistry, serve_echo
from sandbox.github_standin import GitHubStandIn, serve
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, REPO_ROOT, Sandbox

# Markdown and JSON both escape some of these characters: an escaped secret is spelled otherwise.
ECHO_USER, ECHO_PASSWORD = "mirror-pusher", "Mirror-Pw.2026_x!"
FURTHER_USER, FURTHER_PASSWORD = "further-pusher", 'Auth-File.Pw_"9"!'  # from REGISTRY_AUTH_FILE
# Every blob through the bot's own HTTP client (by default, those of 32 MiB or more); one try.
OWN_CLIENT = {"MIRROR_BLOB_THRESHOLD": "1", "MIRROR_RETRY_ATTEMPTS": "1"}


def spellings(user: str, password: str) -> set[str]:
    """Every way a login can be written into an output."""
    pair = f"{user}:{password}"
    standard = base64.b64encode(pair.encode()).decode()
    url_safe = base64.urlsafe_b64encode(pair.encode()).decode()
    plain = {password, pair, standard, standard.rstrip("="), url_safe, url_safe.rstrip("=")}
    escaped = {form(secret) for secret in (password, pair)
               for form in (text, lambda s: json.dumps(s)[1:-1])}
    return plain | escaped


def leaked(output: str, echo: EchoRegistry, *others: str) -> list[str]:
    """The secrets of this run that `output` holds, in any spelling."""
    secrets = [*spellings(echo.username, echo.password), *spellings(MIRROR_USER, MIRROR_PASSWORD),
               *echo.tokens, *others]
    return sorted({secret for secret in secrets if secret in output})


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`mirror-bot ARGS` in a process of its own, as the workflows run it."""
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def on(echo: EchoRegistry, addresses: list[dict]) -> list[dict]:
    """The results of the addresses on the echo registry."""
    return [address for address in addresses if address["target"].startswith(f"{echo.host}/")]


def registries_conf(testbed: Sandbox, folder: Path, echo: EchoRegistry) -> Path:
    """The test bed's registries.conf, with the echo registry served over plain http."""
    conf = folder / "registries.conf"
    conf.write_text(f'{testbed.registries_conf.read_text()}\n[[registry]]\n'
                    f'location = "{echo.host}"\ninsecure = true\n')
    return conf


def auth_file(folder: Path, echo: EchoRegistry) -> Path:
    """REGISTRY_AUTH_FILE with the echo registry's login (in Actions: MIRROR_AUTH_JSON)."""
    path = folder / "auth.json"
    login = base64.b64encode(f"{echo.username}:{echo.password}".encode()).decode()
    path.write_text(json.dumps({"auths": {echo.host: {"auth": login}}}))
    return path


def further_mirror(testbed: Sandbox, folder: Path, echo: EchoRegistry) -> dict[str, str]:
    """The environment of a run whose second mirror is the echo registry, its login from the
    auth file; the primary is the test bed's real mirror."""
    return testbed.env(CONTAINERS_REGISTRIES_CONF=str(registries_conf(testbed, folder, echo)),
                       MIRROR_REGISTRY=f"{testbed.mirror.host},{echo.host}",
                       REGISTRY_AUTH_FILE=str(auth_file(folder, echo)), **OWN_CLIENT)


# -- handle-event: the issue comment, the job summary, stderr ---------------------------------


@dataclass(frozen=True)
class Handled:
    """One request handled by `handle-event` with the echo registry as the mirror."""

    echo: EchoRegistry
    github: GitHubStandIn
    completed: subprocess.CompletedProcess[str]
    summary: str

    @property
    def comment(self) -> str:
        [comment] = self.github.bot_comments(1)
        return str(comment["body"])

    def leaked(self, output: str) -> list[str]:
        return leaked(output, self.echo, self.github.token)


@pytest.fixture(scope="module")
def handled(testbed: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Handled]:
    """The echo registry is the mirror (MIRROR_USERNAME and MIRROR_PASSWORD are its login; it
    asks for tokens); an issue requests an image the test bed's upstream serves."""
    folder = tmp_path_factory.mktemp("handled")
    testbed.seed("secret-channels-comment")
    with serve_echo(EchoRegistry(ECHO_USER, ECHO_PASSWORD)) as echo, \
            serve(GitHubStandIn()) as github:
        github.add_issue("docker.io/library/secret-channels-comment:1.0")
        event = folder / "event.json"
        event.write_text(json.dumps(github.event("opened", 1)))
        env = testbed.env(
            CONTAINERS_REGISTRIES_CONF=str(registries_conf(testbed, folder, echo)),
            MIRROR_REGISTRY=echo.host, MIRROR_USERNAME=ECHO_USER, MIRROR_PASSWORD=ECHO_PASSWORD,
            GITHUB_EVENT_NAME="issues", GITHUB_EVENT_PATH=str(event),
            GITHUB_REPOSITORY=github.repository, GITHUB_TOKEN=github.token,
            GITHUB_API_URL=github.base_url, GITHUB_SERVER_URL="https://github.com",
            GITHUB_RUN_ID="42", GITHUB_STEP_SUMMARY=str(folder / "summary.md"),
            MIRROR_GITHUB_WRITE_INTERVAL="0", MIRROR_GITHUB_BACKOFF="0.01", **OWN_CLIENT)
        completed = run(env, "handle-event")
        assert echo.echoes and echo.tokens, completed.stderr  # the echo really answered
        yield Handled(echo, github, completed, (folder / "summary.md").read_text())


def test_the_issue_comment_holds_no_echoed_secret(handled: Handled) -> None:
    assert MARKER in handled.comment, handled.comment  # the registry's words reach the user
    assert handled.leaked(handled.comment) == []


def test_the_job_summary_holds_no_echoed_secret(handled: Handled) -> None:
    # The summary names each failure's kind, not the registry's words: what keeps a secret out
    # of it is that it is rendered as comments are (redacted before escaping), checked here.
    assert "mirror_unauthorized" in handled.summary, handled.summary
    assert handled.leaked(handled.summary) == []


def test_stderr_holds_no_echoed_secret(handled: Handled) -> None:
    stderr = handled.completed.stderr
    assert "mirror_unauthorized" in stderr and MARKER in stderr, stderr  # why, for maintainers
    assert handled.leaked(stderr + handled.completed.stdout) == []


# -- sync --json, the resync report, the doctor ------------------------------------------------


@pytest.fixture
def echo() -> Iterator[EchoRegistry]:
    """An echo registry that asks for tokens, its login the one the auth file holds."""
    with serve_echo(EchoRegistry(FURTHER_USER, FURTHER_PASSWORD)) as registry:
        yield registry


def test_sync_json_holds_no_echoed_secret(testbed: Sandbox, echo: EchoRegistry, tmp_path: Path,
                                          name: str) -> None:
    testbed.seed(name)
    completed = run(further_mirror(testbed, tmp_path, echo), "sync", "--json",
                    f"docker.io/library/{name}:1.0")
    [result] = json.loads(completed.stdout)["results"]
    assert result["status"] == "copied", result  # the primary mirror has it
    further = on(echo, result["target_results"])  # its canonical address, Docker Hub's short form
    assert further and all(address["status"] == "failed" and MARKER in address["error"]["message"]
                           for address in further), further
    assert leaked(completed.stdout, echo) == []


def test_the_resync_report_holds_no_echoed_secret(testbed: Sandbox, echo: EchoRegistry,
                                                  tmp_path: Path, name: str) -> None:
    testbed.seed(name)
    forge, report = tmp_path / "forge", tmp_path / "report.json"
    standin = GitHubStandIn()
    standin.add_issue(f"{name}:1.0")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(standin.event("opened", 1)))
    mirrored = run(testbed.env(GITHUB_EVENT_NAME="issues", GITHUB_EVENT_PATH=str(event)),
                   "handle-event", "--local-forge", str(forge))
    assert mirrored.returncode == 0, mirrored.stderr
    # The echo registry joins as a second mirror: resync fills its address in, and is refused.
    resynced = run(further_mirror(testbed, tmp_path, echo), "resync", "--local-forge",
                   str(forge), "--output", str(report))
    written = report.read_text()
    [row] = json.loads(written)["results"]
    further = on(echo, row["targets"])  # its canonical address, Docker Hub's short form
    assert further and all(address["status"] == "failed" and MARKER in address["error"]["message"]
                           for address in further), resynced.stderr
    assert leaked(written, echo) == []


def test_skopeo_s_own_words_hold_no_echoed_secret(testbed: Sandbox, tmp_path: Path,
                                                  name: str) -> None:
    """A registry that asks for Basic on every request, with the default blob settings: the
    small blobs the bot's client cannot push are left to skopeo, whose error is the one shown."""
    testbed.seed(name)
    with serve_echo(EchoRegistry(ECHO_USER, ECHO_PASSWORD, scheme="basic")) as echo:
        env = testbed.env(CONTAINERS_REGISTRIES_CONF=str(registries_conf(testbed, tmp_path, echo)),
                          MIRROR_REGISTRY=echo.host, MIRROR_USERNAME=ECHO_USER,
                          MIRROR_PASSWORD=ECHO_PASSWORD, MIRROR_RETRY_ATTEMPTS="1")
        completed = run(env, "sync", "--json", f"docker.io/library/{name}:1.0")
    [result] = json.loads(completed.stdout)["results"]
    assert result["status"] == "failed" and MARKER in result["error"]["message"], result
    assert leaked(completed.stdout + completed.stderr, echo) == []


def test_the_doctor_holds_no_echoed_secret(testbed: Sandbox, echo: EchoRegistry,
                                           tmp_path: Path) -> None:
    env = further_mirror(testbed, tmp_path, echo)
    completed = run(env, "doctor")
    assert MARKER in completed.stdout, completed.stdout  # its push check failed, in its words
    assert leaked(completed.stdout + completed.stderr, echo) == []


# -- the secret set itself ---------------------------------------------------------------------


def test_the_secret_set_holds_every_spelling_and_learns_tokens() -> None:
    secrets = Secrets()
    secrets.add_login(FURTHER_USER, FURTHER_PASSWORD)
    pair = f"{FURTHER_USER}:{FURTHER_PASSWORD}".encode()
    standard, url_safe = base64.b64encode(pair).decode(), base64.urlsafe_b64encode(pair).decode()
    for spelling in (FURTHER_PASSWORD, pair.decode(), standard, standard.rstrip("="), url_safe,
                     url_safe.rstrip("=")):
        assert secrets.redact(f"echoed {spelling}.") == "echoed ***.", spelling
    secrets.add("echo-token-0123456789abcdef")  # as the client adds a token it obtains
    assert secrets.redact("with token echo-token-0123456789abcdef") == "with token ***"
    # A JSON Web Token nobody told the set about (skopeo obtains its own) is still one.
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzYW5kYm94In0.c2lnbmF0dXJl"
    assert secrets.redact(f"token {jwt}.") == "token ***."
