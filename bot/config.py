"""Configuration from the environment and the allowlist's settings, validated once.

Rule: environment variables win over file settings; every value is checked when it is read and
a bad one is a ConfigError that names the variable and what to write instead (exit 2, nothing
done); nothing here touches the network. There is no placeholder mirror: with no mirror
configured, inside GitHub Actions the mirror is the repository owner's GHCR namespace pushed
with the workflow's token, and anywhere else it is an error naming MIRROR_REGISTRY.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bot.copy.settings import EngineSettings
from bot.errors import ConfigError
from bot.forge.protocol import DEFAULT_BOT_LOGIN
from bot.policy.allowlist_file import Allowlist, load_allowlist
from bot.policy.naming import DEFAULT_TEMPLATE, Namer, parse_mirror_registries
from bot.records.labels import Labels
from bot.registry.containers_conf import Credentials
from bot.request.address import DEFAULT_MIRROR_PREFIXES

GHCR = "ghcr.io"
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Limits:
    """Timeouts and retries of the edges, from MIRROR_* variables."""

    registry_timeout: float = 30.0
    copy_timeout: float = 1800.0
    retry_attempts: int = 3
    retry_base_delay: float = 2.0


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
    limits: Limits = Limits()
    engine: EngineSettings = field(default_factory=EngineSettings)  # bot/copy/settings.py
    bot_login: str = DEFAULT_BOT_LOGIN
    language: str = "en"  # of comments, job summaries and the status page
    other_secrets: tuple[str, ...] = ()  # REGISTRY_AUTH_FILE's passwords, GITHUB_TOKEN

    @property
    def mirror(self) -> str:
        return self.namer.mirror

    @property
    def own_prefixes(self) -> tuple[str, ...]:
        """How users paste this mirror's own address in front of an image."""
        return self.namer.pasted_prefixes

    @property
    def other_mirrors(self) -> Mapping[str, str]:
        """Other mirrors' prefixes users paste (prefix -> the registry it stands for)."""
        configured = self.allowlist.settings.mirror_prefixes
        return DEFAULT_MIRROR_PREFIXES if configured is None else configured

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every password and token this run holds: none may reach a comment or a log."""
        return tuple(dict.fromkeys(s for s in (self.mirror_password, *self.other_secrets) if s))


MAXIMUM = 1e6  # no timeout, delay or count the bot reads is sensibly larger


def number(env: Mapping[str, str], name: str, default: N, *, minimum: float = 0,
           maximum: float = MAXIMUM) -> N:
    """The number in variable `name`, or `default` when it is unset or empty; finite and
    within [minimum, maximum]."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    kind: Callable[[str], N] = type(default)
    try:
        value = kind(text)
    except ValueError as error:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={text[:40]!r} is not {what}; unset it or write e.g. "
                          f"{name}={default}") from error
    if not minimum <= value <= maximum:  # also refuses nan; inf is above any maximum
        raise ConfigError(f"{name}={text[:40]!r} must be a number from {minimum:g} to "
                          f"{maximum:g}")
    return value


def limits_from(env: Mapping[str, str]) -> Limits:
    return Limits(
        registry_timeout=number(env, "MIRROR_TIMEOUT", Limits.registry_timeout, minimum=1),
        copy_timeout=number(env, "MIRROR_COPY_TIMEOUT", Limits.copy_timeout, minimum=1),
        retry_attempts=number(env, "MIRROR_RETRY_ATTEMPTS", Limits.retry_attempts, minimum=1),
        retry_base_delay=number(env, "MIRROR_RETRY_BASE_DELAY", Limits.retry_base_delay),
    )


@dataclass(frozen=True)
class MirrorSetting:
    registries: tuple[str, ...]  # the primary first
    username: str | None  # the primary's credentials; the others' come from REGISTRY_AUTH_FILE
    password: str | None


def mirror_setting(env: Mapping[str, str], allowlist: Allowlist) -> MirrorSetting:
    """The mirrors and the primary's push credentials: the variable, the setting, or GHCR in
    Actions."""
    text = (env.get("MIRROR_REGISTRY") or "").strip()
    username = env.get("MIRROR_USERNAME") or None
    password = env.get("MIRROR_PASSWORD") or None
    if text:
        try:
            return MirrorSetting(parse_mirror_registries(text), username, password)
        except ConfigError as error:
            raise ConfigError(f"MIRROR_REGISTRY: {error}") from error
    if allowlist.settings.mirrors:
        return MirrorSetting(allowlist.settings.mirrors, username, password)
    if env.get("GITHUB_ACTIONS") != "true":
        raise ConfigError("no mirror registry is configured: set MIRROR_REGISTRY (e.g. "
                          "MIRROR_REGISTRY=m.example.io) or settings.mirror_registry")
    owner = (env.get("GITHUB_REPOSITORY_OWNER") or env.get("GITHUB_REPOSITORY", "").split("/")[0])
    if not owner:
        raise ConfigError("MIRROR_REGISTRY is empty and GITHUB_REPOSITORY_OWNER is not set, so "
                          "the GHCR default cannot be used; set MIRROR_REGISTRY")
    return MirrorSetting((f"{GHCR}/{owner.lower()}",), username or env.get("GITHUB_ACTOR") or None,
                         password or env.get("GITHUB_TOKEN") or None)


def _auth_file_secrets(path: Path | None) -> list[str]:
    """The passwords in REGISTRY_AUTH_FILE, to redact. A broken file is reported where the
    credentials are built (and by the doctor's own check), not here."""
    try:
        return Credentials.from_auth_file(path).secrets()
    except ConfigError:
        return []


def allowlist_path(env: Mapping[str, str]) -> Path:
    """MIRROR_ALLOWLIST, or allowlist.yaml in the working directory."""
    return Path(env.get("MIRROR_ALLOWLIST") or "allowlist.yaml")


def bot_login(env: Mapping[str, str]) -> str:
    """The login whose comments are the bot's records (MIRROR_BOT_LOGIN)."""
    return env.get("MIRROR_BOT_LOGIN") or DEFAULT_BOT_LOGIN


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read the environment and the allowlist; raise ConfigError when either is wrong."""
    env = os.environ if env is None else env
    path = allowlist_path(env)
    allowlist = load_allowlist(path)
    mirror = mirror_setting(env, allowlist)
    namer = Namer(mirror.registries[0], allowlist.settings.target_template or DEFAULT_TEMPLATE,
                  also=mirror.registries[1:])
    namer.validate()
    conf = env.get("CONTAINERS_REGISTRIES_CONF")
    auth_file = env.get("REGISTRY_AUTH_FILE")
    return Config(
        allowlist_path=path,
        allowlist=allowlist,
        namer=namer,
        registries_conf=Path(conf) if conf else None,
        mirror_username=mirror.username,
        mirror_password=mirror.password,
        auth_file=Path(auth_file) if auth_file else None,
        labels=Labels(request=env.get("MIRROR_REQUEST_LABEL") or Labels.request),
        limits=limits_from(env),
        engine=EngineSettings.from_env(env),
        bot_login=bot_login(env),
        language=allowlist.settings.language,
        other_secrets=(*_auth_file_secrets(Path(auth_file) if auth_file else None),
                       env.get("GITHUB_TOKEN") or ""),
    )
