"""Configuration from the environment (the contract in DESIGN.md) and allowlist settings.

Rule: environment variables win over file settings; nothing here touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.naming import DEFAULT_TEMPLATE, Namer
from bot.policy import Allowlist, load_allowlist

DEFAULT_MIRROR = "m.example.io"


@dataclass(frozen=True)
class Labels:
    request: str = "sync image"
    succeeded: str = "sync image succeeded"
    failure: str = "sync image failure"
    denied: str = "sync image denied"
    invalid: str = "sync image invalid"

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.succeeded, self.denied, self.invalid})


@dataclass(frozen=True)
class Config:
    allowlist_path: Path
    allowlist: Allowlist
    namer: Namer
    registries_conf: Path | None
    mirror_username: str | None
    mirror_password: str | None
    auth_file: Path | None
    labels: Labels

    @property
    def mirror(self) -> str:
        return self.namer.mirror

    @property
    def secrets(self) -> list[str]:
        return [self.mirror_password] if self.mirror_password else []


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read the environment and the allowlist; raise ConfigError when either is wrong."""
    env = os.environ if env is None else env
    allowlist_path = Path(env.get("MIRROR_ALLOWLIST") or "allowlist.yaml")
    allowlist = load_allowlist(allowlist_path)
    mirror = (env.get("MIRROR_REGISTRY") or allowlist.settings.mirror_registry or DEFAULT_MIRROR)
    namer = Namer(mirror.rstrip("/"), allowlist.settings.target_template or DEFAULT_TEMPLATE)
    namer.validate()
    conf = env.get("CONTAINERS_REGISTRIES_CONF")
    auth_file = env.get("REGISTRY_AUTH_FILE")
    return Config(
        allowlist_path=allowlist_path,
        allowlist=allowlist,
        namer=namer,
        registries_conf=Path(conf) if conf else None,
        mirror_username=env.get("MIRROR_USERNAME") or None,
        mirror_password=env.get("MIRROR_PASSWORD") or None,
        auth_file=Path(auth_file) if auth_file else None,
        labels=Labels(request=env.get("MIRROR_REQUEST_LABEL") or Labels.request),
    )
