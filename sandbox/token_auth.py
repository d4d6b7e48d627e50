"""A Docker-style token server, so a loopback registry challenges with Bearer like Docker Hub.

The registry is configured with `auth: token:` and trusts a self-signed certificate; this server
hands out JWTs signed with its key (x5c header), checking Basic credentials when a user is set.
It records every request with the Authorization header it carried, so tests can tell which
credentials went where; it listens on loopback unless given another local address.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.http_server import QuietHandler

SERVICE = "sandbox-registry"
ISSUER = "sandbox-token-issuer"


@dataclass
class TokenServer:
    folder: Path
    users: dict[str, str] = field(default_factory=dict)
    realm: str = ""
    requests: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1))
                     .not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = self.folder / "token.crt"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def registry_auth_config(self) -> str:
        return (f"auth: {{token: {{realm: '{self.realm}', service: {SERVICE}, issuer: {ISSUER}, "
                f"rootcertbundle: {self.cert_path}}}}}\n")

    def token(self, scope: str, authorization: str | None) -> tuple[int, dict]:
        if self.users:
            if not authorization or not authorization.startswith("Basic "):
                return 401, {"details": "credentials required"}
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return 401, {"details": "bad credentials"}
        access = []
        for item in scope.split():
            kind, name, actions = item.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {"iss": ISSUER, "sub": "sandbox", "aud": SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        token = jwt.encode(claims, self.key, algorithm="ES256", headers={"x5c": [x5c]})
        return 200, {"token": token, "access_token": token, "expires_in": 300}


@contextmanager
def serve_tokens(server: TokenServer, address: str = "127.0.0.1") -> Iterator[TokenServer]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            server.requests.append(self.path)
            server.authorizations.append(self.headers.get("Authorization"))
            status, payload = server.token(" ".join(query.get("scope", [])),
                                           self.headers.get("Authorization"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer((address, 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server.realm = f"http://{address}:{httpd.server_address[1]}/token"
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
