"""Builds the edge adapters (registry client, skopeo, syncer, the forge) from the configuration's
values.

Rule: an adapter is built from a checked section of bot/config.py, never from the environment;
skopeo runs with the environment config built for it (no tokens or passwords), and the GitHub
forge only for a command that talks to GitHub, which is where a missing token is an error. The
registry client and skopeo share the run's secret set (`Config.secret_set`): the tokens the
client obtains are redacted from skopeo's messages, the comments and the reports alike.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config, GitHubSettings, Section
from bot.copy.cache import BlobLocations
from bot.copy.engine import SMALL_BLOB_STREAMS, BlobStager
from bot.copy.settings import MIN_LOOKUPS, EngineSettings, lookups_in_flight
from bot.copy.syncer import Syncer
from bot.errors import ConfigError
from bot.forge.local import LocalForge
from bot.registry.blobs import DEFAULT_BLOB_COPY, ProgressPrinter
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo

if TYPE_CHECKING:  # types only: the follow flow (templates) and PyGithub load where they are used
    from bot.flows.follow_records import TrackingForge
    from bot.forge.github import GitHubForge


def credentials_for(config: Config) -> Credentials:
    """REGISTRY_AUTH_FILE's logins, plus MIRROR_USERNAME/PASSWORD for the primary mirror only
    (keyed by its full prefix, so a second mirror on the same host does not get them)."""
    credentials = Credentials.from_auth_file(config.files.auth_file)
    login = config.mirror_setting
    if login.username and login.password:
        credentials.add(config.mirror, login.username, login.password)
    return credentials


def build_registry_client(config: Config, credentials: Credentials | None = None, *,
                          lookups: int = MIN_LOOKUPS) -> RegistryClient:
    """The registry API client: registries.conf, credentials, transport retries, the mirrors;
    connections kept per host for `lookups` in flight beside the blob streams."""
    limits = config.limits
    return RegistryClient(
        RegistriesConf.load(config.files.registries_conf),
        credentials if credentials is not None else credentials_for(config),
        timeout=limits.registry_timeout,
        retry=limits.backoff,
        mirrors=config.namer.mirrors, secrets=config.secret_set,
        connections_per_host=lookups + SMALL_BLOB_STREAMS)


def staging(engine: EngineSettings, registry: RegistryClient) -> BlobStager:
    """Blobs staged by the registry client before skopeo runs (large ones in ranges, with a
    progress line per blob on stderr; small ones whole; those the cache places elsewhere in the
    mirror mounted)."""
    return BlobStager(registry, BlobLocations.load(engine.cache),
                      engine.blob_copy(DEFAULT_BLOB_COPY), ProgressPrinter(sys.stderr))


def build_skopeo(config: Config, credentials: Credentials | None = None) -> Skopeo:
    """skopeo with registries.conf, the credentials (in an authfile of its own) and the
    environment config built for it."""
    return Skopeo(config.files.registries_conf, credentials, timeout=config.limits.copy_timeout,
                  environment=config.skopeo_environment, secrets=config.secret_set)


def build_syncer(config: Config, jobs: int = 1) -> Syncer:
    """The syncer for `jobs` images at once: its look-ups in flight, and the connections kept
    for them, grow with the jobs (bot/copy/settings.py's lookups_in_flight)."""
    credentials = credentials_for(config)
    limits = config.limits
    lookups = lookups_in_flight(jobs)
    registry = build_registry_client(config, credentials, lookups=lookups)
    return Syncer(
        registry=registry,
        copier=build_skopeo(config, credentials),
        retry=limits.backoff,
        max_size=config.allowlist.settings.max_image_size,
        staging=staging(config.engine, registry),
        copy_processes=config.engine.copy_processes,
        referrer_selection=config.allowlist.settings.referrer_selection,
        referrer_bounds=config.allowlist.settings.referrer_bounds,
        lookups_in_flight=lookups,
    )


def needs_github(local_forge: Path | None, wanted: bool = True) -> tuple[Section, ...]:
    """The GitHub section, when the command will talk to GitHub (`wanted`, and no local forge)."""
    return (Section.GITHUB,) if wanted and local_forge is None else ()


def build_forge(github: GitHubSettings, bot_login: str,
                local_forge: Path | None = None) -> TrackingForge:
    """The local file-backed forge when asked for, else GitHub."""
    if local_forge is not None:
        return LocalForge(local_forge, bot_login=bot_login)
    return github_forge(github, bot_login)


def github_forge(github: GitHubSettings, bot_login: str) -> GitHubForge:
    """GitHub, from its checked settings; a ConfigError when the token or repository is
    missing."""
    if not github.token or not github.repository:
        raise ConfigError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set (or use --local-forge DIR)")
    # PyGithub costs ~300 ms to import: only commands that talk to GitHub pay for it.
    from bot.forge.github import GitHubForge

    return GitHubForge(
        github.repository, github.token, github.api_url,
        bot_login=bot_login,
        seconds_between_writes=github.write_interval,
        secondary_rate_wait=github.secondary_wait,
        trust_comment_count=github.first_attempt,
        backoff=github.backoff,
        timeout=github.timeout,
    )
