"""The one place that runs skopeo.

Rule: argument lists only (never a shell); every image is `docker://` plus an already
validated Reference, so user text can never become an option; every call has a timeout;
credentials travel in a temporary 0600 authfile, never on a command line; stderr is classified
into the transfer error kinds, with secrets redacted.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.errors import TransferError
from bot.oci import digest_of
from bot.platform import Platform
from bot.redaction import redact
from bot.reference import Reference
from bot.registry import Credentials

DEFAULT_TIMEOUT = 1800.0
STDERR_KINDS = (
    ("not_found", ("manifest unknown", "name unknown", "not found", "no such manifest")),
    ("rate_limited", ("toomanyrequests", "too many requests", "429")),
    ("unauthorized", ("unauthorized", "authentication required", "requested access to the "
                      "resource is denied", "denied:", "401")),
    ("timeout", ("i/o timeout", "timeout", "deadline exceeded")),
    ("network", ("connection refused", "connection reset", "no such host", "network is "
                 "unreachable", "x509:", "eof", "broken pipe", "tls:")),
    ("server_error", ("500 internal", "502 bad gateway", "503 service", "504 gateway",
                      "internal server error", "bad gateway", "service unavailable",
                      "status 500", "status 502", "status 503", "status 504")),
)
LOG_PREFIX_RE = re.compile(r'time="[^"]*" level=\w+ msg=')


def classify(stderr: str) -> str:
    lowered = stderr.lower()
    for kind, needles in STDERR_KINDS:
        if any(needle in lowered for needle in needles):
            return kind
    return "unknown"


def _user_message(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "skopeo failed without a message"
    return LOG_PREFIX_RE.sub("", last).strip().strip('"')


def docker_arg(ref: Reference) -> str:
    """`docker://` + the validated reference. A Reference never starts with '-'."""
    text = str(ref)
    if text.startswith("-") or any(c.isspace() for c in text):
        raise ValueError(f"refusing to pass {text!r} to skopeo")
    return f"docker://{text}"


@dataclass
class Skopeo:
    registries_conf: Path | None = None
    credentials: Credentials | None = None
    timeout: float = DEFAULT_TIMEOUT
    binary: str = "skopeo"

    @contextlib.contextmanager
    def _authfile(self) -> Iterator[list[str]]:
        if not self.credentials or not self.credentials.by_host:
            yield []
            return
        fd, name = tempfile.mkstemp(prefix="mirror-bot-auth-", suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.credentials.auth_json())
            yield ["--authfile", name]
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def _global_args(self, platform: Platform | None = None) -> list[str]:
        args = [self.binary]
        if self.registries_conf:
            args += ["--registries-conf", str(self.registries_conf)]
        if platform:
            args += ["--override-os", platform.os, "--override-arch", platform.architecture]
            if platform.variant:
                args += ["--override-variant", platform.variant]
        return args

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        secrets = self.credentials.secrets() if self.credentials else []
        try:
            completed = subprocess.run(argv, capture_output=True, timeout=self.timeout,
                                       stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as error:
            raise TransferError("timeout", f"skopeo did not finish within {self.timeout:.0f}s") from error
        except FileNotFoundError as error:
            raise TransferError("unknown", f"skopeo is not installed ({argv[0]})") from error
        if completed.returncode != 0:
            stderr = redact(completed.stderr.decode(errors="replace"), secrets)
            raise TransferError(classify(stderr), _user_message(stderr))
        return completed

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
                raw = self._run(argv).stdout
            except TransferError as error:
                if error.kind == "not_found":
                    return None
                raise
        return digest_of(raw)
