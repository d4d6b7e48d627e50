"""Builds the edge adapters (registry client, skopeo, syncer) from a Config."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bot.config import Config
from bot.registry import Credentials, RegistriesConf, RegistryClient
from bot.skopeo import Skopeo
from bot.sync import RetryPolicy, Syncer


def credentials_for(config: Config) -> Credentials:
    credentials = Credentials.from_auth_file(config.auth_file)
    if config.mirror_username and config.mirror_password:
        credentials.add(config.mirror.split("/", 1)[0], config.mirror_username,
                        config.mirror_password)
    return credentials


def build_syncer(config: Config, env: Mapping[str, str] | None = None) -> Syncer:
    env = os.environ if env is None else env
    credentials = credentials_for(config)
    conf = RegistriesConf.load(config.registries_conf)
    retry = RetryPolicy(
        attempts=int(env.get("MIRROR_RETRY_ATTEMPTS") or RetryPolicy.attempts),
        base_delay=float(env.get("MIRROR_RETRY_BASE_DELAY") or RetryPolicy.base_delay),
    )
    timeout = float(env.get("MIRROR_TIMEOUT") or 30)
    return Syncer(
        registry=RegistryClient(conf, credentials, timeout=timeout),
        copier=Skopeo(config.registries_conf, credentials,
                      timeout=float(env.get("MIRROR_COPY_TIMEOUT") or 1800)),
        retry=retry,
        max_size=config.allowlist.settings.max_image_size,
    )
