"""Real distribution registries (Debian `docker-registry`) on loopback, for tests and the demo."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT = 15.0
ACCESS_LINE_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>/v2/\S*) HTTP/[\d.]+" (?P<status>\d{3})')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Registry:
    """One running docker-registry process with its storage and access log."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    htpasswd: Path | None = None
    log_offset: int = field(default=0)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every /v2/ request since the last mark()."""
        text = self.log_path.read_text(errors="replace")[self.log_offset :]
        return [(m["method"], m["path"], int(m["status"])) for m in ACCESS_LINE_RE.finditer(text)]

    def mark(self) -> None:
        self.log_offset = len(self.log_path.read_text(errors="replace"))

    def manifest_requests(self) -> Counter[str]:
        return Counter(method for method, path, _ in self.requests() if "/manifests/" in path)

    def blob_uploads(self) -> int:
        return sum(1 for method, path, _ in self.requests()
                   if method == "PUT" and "/blobs/uploads/" in path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_registry(root: Path, users: dict[str, str] | None = None,
                   auth_config: str = "") -> Registry:
    """Start a registry storing under `root`; with `users`, require htpasswd basic auth;
    `auth_config` is a raw `auth:` section (token auth)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = auth_config
    htpasswd = None
    if users:
        htpasswd = root / "htpasswd"
        lines = [
            subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                           capture_output=True, text=True).stdout.strip()
            for user, password in users.items()
        ]
        htpasswd.write_text("\n".join(lines) + "\n")
        auth = f"auth: {{htpasswd: {{realm: sandbox, path: {htpasswd}}}}}\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: info, accesslog: {disabled: false}}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n" + auth
    )
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    log = (root / "registry.log").open("ab")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    registry = Registry(root, port, process, htpasswd)
    _wait_ready(registry)
    return registry


def _wait_ready(registry: Registry) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"registry exited: {registry.log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # 401 from an auth-protected registry is ready too
        except OSError:
            time.sleep(0.05)  # polling a starting process; not synchronising test steps
    registry.stop()
    raise RuntimeError(f"registry on {registry.host} not ready after {READY_TIMEOUT}s")


def write_registries_conf(path: Path, upstream: str, mirror_hosts: list[str],
                          prefixes: tuple[str, ...] = ("docker.io", "ghcr.io", "quay.io",
                                                       "registry.k8s.io")) -> Path:
    """A registries.conf mapping realistic registry names onto one loopback upstream."""
    entries = [
        f'[[registry]]\nprefix = "{prefix}"\nlocation = "{upstream}/{prefix}"\ninsecure = true\n'
        for prefix in prefixes
    ]
    entries += [f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
                for host in [upstream, *mirror_hosts]]
    path.write_text("\n".join(entries))
    return path
