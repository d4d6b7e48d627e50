"""Real distribution registries (Debian `docker-registry`) on loopback, for tests and the demo."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
    certificate: Path | None = None  # serving https with this self-signed certificate
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


def self_signed_certificate(folder: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `address` signed by its own key (no CA trusts it); (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "registry.crt", folder / "registry.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def start_registry(root: Path, users: dict[str, str] | None = None,
                   auth_config: str = "", *, tls: bool = False) -> Registry:
    """Start a registry storing under `root`; with `users`, require htpasswd basic auth;
    `auth_config` is a raw `auth:` section (token auth); `tls` serves https with a self-signed
    certificate (Registry.certificate)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    certificate = None
    listen = f"addr: '127.0.0.1:{port}'"
    if tls:
        certificate, key = self_signed_certificate(root)
        listen += f", tls: {{certificate: {certificate}, key: {key}}}"
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
        f"http: {{{listen}}}\n" + auth
    )
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    log = (root / "registry.log").open("ab")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    registry = Registry(root, port, process, htpasswd, certificate)
    _wait_ready(registry)
    return registry


def _wait_ready(registry: Registry) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"registry exited: {registry.log_path.read_text()[-2000:]}")
        scheme, context = "http", None
        if registry.certificate is not None:
            scheme, context = "https", ssl.create_default_context(cafile=registry.certificate)
        try:
            urllib.request.urlopen(f"{scheme}://{registry.host}/v2/", timeout=1, context=context)
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
