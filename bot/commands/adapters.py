"""Builds the edge adapters (registry client, skopeo, syncer) from a Config."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from bot.config import Config, bot_login, number
from bot.copy.cache import BlobLocations
from bot.copy.engine import BlobStager
from bot.copy.settings import EngineSettings
from bot.copy.syncer import RetryPolicy, Syncer
from bot.errors import ConfigError
from bot.forge.local import LocalForge
from bot.forge.protocol import Forge
from bot.registry.blobs import DEFAULT_BLOB_COPY, ProgressPrinter
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from bot.registry.transport import HttpRetry


def credentials_for(config: Config) -> Credentials:
    """REGISTRY_AUTH_FILE's logins, plus MIRROR_USERNAME/PASSWORD for the primary mirror only
    (keyed by its full prefix, so a second mirror on the same host does not get them)."""
    credentials = Credentials.from_auth_file(config.auth_file)
    if config.mirror_username and config.mirror_password:
        credentials.add(config.mirror, config.mirror_username, config.mirror_password)
    return credentials


def build_registry_client(config: Config, credentials: Credentials | None = None) -> RegistryClient:
    """The registry API client: registries.conf, credentials, transport retries, the mirrors."""
    limits = config.limits
    return RegistryClient(
        RegistriesConf.load(config.registries_conf),
        credentials if credentials is not None else credentials_for(config),
        timeout=limits.registry_timeout,
        retry=HttpRetry(attempts=limits.retry_attempts, backoff=limits.retry_base_delay),
        mirrors=config.namer.mirrors)


def staging(engine: EngineSettings, registry: RegistryClient) -> BlobStager:
    """Blobs staged by the registry client before skopeo runs (large ones in ranges, with a
    progress line per blob on stderr; small ones whole; those the cache places elsewhere in the
    mirror mounted)."""
    return BlobStager(registry, BlobLocations.load(engine.cache),
                      engine.blob_copy(DEFAULT_BLOB_COPY), ProgressPrinter(sys.stderr))


def build_syncer(config: Config) -> Syncer:
    credentials = credentials_for(config)
    limits = config.limits
    registry = build_registry_client(config, credentials)
    return Syncer(
        registry=registry,
        copier=Skopeo(config.registries_conf, credentials, timeout=limits.copy_timeout),
        retry=RetryPolicy(attempts=limits.retry_attempts, base_delay=limits.retry_base_delay),
        max_size=config.allowlist.settings.max_image_size,
        staging=staging(config.engine, registry),
        copy_processes=config.engine.copy_processes,
    )


def build_forge(env: Mapping[str, str], local_forge: Path | None = None) -> Forge:
    """The local file-backed forge when asked for, else GitHub from GITHUB_* variables."""
    login = bot_login(env)
    if local_forge is not None:
        return LocalForge(local_forge, bot_login=login)
    token, repository = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
    if not token or not repository:
        raise ConfigError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set (or use --local-forge DIR)")
    # PyGithub costs ~300 ms to import: only commands that talk to GitHub pay for it.
    from bot.forge.github import GitHubForge

    return GitHubForge(
        repository, token, env.get("GITHUB_API_URL") or "https://api.github.com",
        bot_login=login,
        seconds_between_writes=number(env, "MIRROR_GITHUB_WRITE_INTERVAL", 1.0),
        secondary_rate_wait=number(env, "MIRROR_GITHUB_SECONDARY_WAIT", 60.0),
        trust_comment_count=(env.get("GITHUB_RUN_ATTEMPT") or "1") == "1",
        backoff=number(env, "MIRROR_GITHUB_BACKOFF", 1.0),
        timeout=number(env, "MIRROR_GITHUB_TIMEOUT", 30, minimum=1),
    )
