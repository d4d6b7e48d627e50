"""The one place that runs skopeo.

Rule: argument lists only (never a shell); every image is `docker://` plus an already
validated Reference, so user text can never become an option; every call has a timeout;
credentials travel in a temporary 0600 authfile (bot.registry.authfile), never on a command line; a
terminated run stops the skopeo it started. stderr, redacted by the run's secret set (every
form of every login it holds, the tokens obtained so far: bot/redaction.py), is classified by
bot/registry/failures.py's table, by side: a refusal while writing to the destination (always
the mirror) is `mirror_unauthorized`, the maintainers' to fix, not the requester's.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ErrorKind, TransferError
from bot.image.oci import digest_of
from bot.image.platform import Platform
from bot.image.reference import Reference
from bot.redaction import Secrets
from bot.registry import failures
from bot.registry.authfile import AuthDir, on_terminate
from bot.registry.containers_conf import Credentials

DEFAULT_TIMEOUT = 1800.0
LOG_PREFIX_RE = re.compile(r'time="[^"]*" level=\w+ msg=')
VERSION_RE = re.compile(rb"\bversion (\d+\.\d+(?:\.\d+)?)\b")


def _user_message(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "skopeo failed without a message"
    return LOG_PREFIX_RE.sub("", last).strip().strip('"')


_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


def _stop_running() -> None:
    """On SIGTERM: a terminated run leaves no skopeo behind."""
    with _running_lock:
        children = list(_running)
    for child in children:
        child.terminate()


on_terminate(_stop_running)


def docker_arg(ref: Reference) -> str:
    """`docker://` + the validated reference. A Reference never starts with '-'."""
    text = str(ref)
    if text.startswith("-") or any(c.isspace() for c in text):
        raise ValueError(f"refusing to pass {text!r} to skopeo")
    return f"docker://{text}"


@dataclass
class Skopeo:
    """Runs skopeo; with credentials, create it from the main thread (see bot.registry.authfile)."""

    registries_conf: Path | None = None
    credentials: Credentials | None = None
    timeout: float = DEFAULT_TIMEOUT
    binary: str = "skopeo"
    # The child's whole environment (config.py builds it: no tokens or passwords); None
    # inherits this process's, which only tests and the sandbox rely on.
    environment: Mapping[str, str] | None = None
    # The run's secret set (shared with whoever shows skopeo's messages); None: the
    # credentials' own.
    secrets: Secrets | None = field(default=None, repr=False)
    _authdir: AuthDir | None = field(default=None, init=False, repr=False)
    _secrets: Secrets = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._secrets = self.secrets if self.secrets is not None else Secrets()
        if self.credentials:
            self._secrets.merge(self.credentials.secret_set())
            self._authdir = AuthDir()

    def close(self) -> None:
        """Remove the authfile directory now rather than at exit."""
        if self._authdir is not None:
            self._authdir.close()

    @contextlib.contextmanager
    def _authfile(self) -> Iterator[list[str]]:
        if self._authdir is None or not self.credentials:
            yield []
            return
        with self._authdir.file(self.credentials.auth_json()) as path:
            yield ["--authfile", str(path)]

    def _global_args(self, platform: Platform | None = None) -> list[str]:
        args = [self.binary]
        if self.registries_conf:
            args += ["--registries-conf", str(self.registries_conf)]
        if platform:
            args += ["--override-os", platform.os, "--override-arch", platform.architecture]
            if platform.variant:
                args += ["--override-variant", platform.variant]
        return args

    def _run(self, argv: list[str]) -> bytes:
        """Run skopeo; its stdout, or a classified, redacted TransferError."""
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.environment)
        except FileNotFoundError as error:
            raise failures.failure(self._secrets, ErrorKind.UNKNOWN,
                                   f"skopeo is not installed ({argv[0]})") from error
        with _running_lock:
            _running.add(child)
        try:
            stdout, stderr = child.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired as error:
            child.kill()
            child.communicate()
            raise failures.failure(self._secrets, ErrorKind.TIMEOUT, f"skopeo did not finish "
                                   f"within {self.timeout:.0f}s") from error
        finally:
            with _running_lock:
                _running.discard(child)
        if child.returncode != 0:
            text = self._secrets.redact(stderr.decode(errors="replace"))
            raise failures.failure(self._secrets, failures.from_stderr(text), _user_message(text))
        return stdout

    def copy(self, source: Reference, destination: Reference, *, all_platforms: bool = True,
             platform: Platform | None = None) -> None:
        """Copy with digests preserved: every platform, or one platform's manifest."""
        with self._authfile() as auth:
            argv = [*self._global_args(platform), "copy", "--quiet", "--preserve-digests", *auth]
            if all_platforms and platform is None:
                argv.append("--all")
            argv += ["--", docker_arg(source), docker_arg(destination)]
            self._run(argv)

    def inspect_digest(self, ref: Reference) -> str | None:
        """The manifest digest by `skopeo inspect --raw` (a GET, counted as a pull on Docker
        Hub): the fallback for registries whose HEAD the registry client cannot use."""
        with self._authfile() as auth:
            argv = [*self._global_args(), "inspect", "--raw", "--no-tags", *auth,
                    "--", docker_arg(ref)]
            try:
                raw = self._run(argv)
            except TransferError as error:
                if error.kind == ErrorKind.NOT_FOUND:
                    return None
                raise
        return digest_of(raw)

    def version(self) -> str:
        """skopeo's version as it reports it (`skopeo --version`), e.g. `1.13.3`."""
        said = self._run([self.binary, "--version"])
        match = VERSION_RE.search(said)
        if match is None:
            words = self._secrets.redact(said.decode(errors="replace"))[:60]
            raise failures.failure(self._secrets, ErrorKind.UNKNOWN, f"{self.binary} --version "
                                   f"did not name a version ({words!r})")
        return match.group(1).decode()
