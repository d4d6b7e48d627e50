"""Builds the edge adapters (registry client, skopeo, syncer) from a Config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.config import Config
from bot.errors import ConfigError
from bot.forge import DEFAULT_BOT_LOGIN, Forge, LocalForge
from bot.registry import Credentials, RegistriesConf, RegistryClient
from bot.skopeo import Skopeo
from bot.sync import RetryPolicy, Syncer


def credentials_for(config: Config) -> Credentials:
    credentials = Credentials.from_auth_file(config.auth_file)
    if config.mirror_username and config.mirror_password:
        credentials.add(config.mirror.split("/", 1)[0], config.mirror_username,
                        config.mirror_password)
    return credentials


def build_syncer(config: Config) -> Syncer:
    credentials = credentials_for(config)
    conf = RegistriesConf.load(config.registries_conf)
    limits = config.limits
    return Syncer(
        registry=RegistryClient(conf, credentials, timeout=limits.registry_timeout),
        copier=Skopeo(config.registries_conf, credentials, timeout=limits.copy_timeout),
        retry=RetryPolicy(attempts=limits.retry_attempts, base_delay=limits.retry_base_delay),
        max_size=config.allowlist.settings.max_image_size,
    )


def build_forge(env: Mapping[str, str], local_forge: Path | None = None) -> Forge:
    """The local file-backed forge when asked for, else GitHub from GITHUB_* variables."""
    bot_login = env.get("MIRROR_BOT_LOGIN") or DEFAULT_BOT_LOGIN
    if local_forge is not None:
        return LocalForge(local_forge, bot_login=bot_login)
    token, repository = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
    if not token or not repository:
        raise ConfigError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set (or use --local-forge DIR)")
    # PyGithub costs ~300 ms to import: only commands that talk to GitHub pay for it.
    from bot.github_forge import GitHubForge

    return GitHubForge(
        repository, token, env.get("GITHUB_API_URL") or "https://api.github.com",
        bot_login=bot_login,
        seconds_between_writes=float(env.get("MIRROR_GITHUB_WRITE_INTERVAL") or 1.0),
        secondary_rate_wait=float(env.get("MIRROR_GITHUB_SECONDARY_WAIT") or 60.0),
        trust_comment_count=(env.get("GITHUB_RUN_ATTEMPT") or "1") == "1",
        backoff=float(env.get("MIRROR_GITHUB_BACKOFF") or 1.0),
        timeout=int(env.get("MIRROR_GITHUB_TIMEOUT") or 30),
    )
