"""Wiring for `sync`: images named on the command line, copied and verified, no GitHub.

Rule: the configuration is read once and bad input is one ConfigError (exit 2) before any
copy; only what a copy needs is imported (no comments, templates or forge), because a
one-image sync pays for every import before its first request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.commands.adapters import build_syncer
from bot.config import Loaded
from bot.errors import ConfigError
from bot.flows.sync_images import run_sync
from bot.image.platform import InvalidPlatform, Platform


@dataclass(frozen=True)
class SyncOptions:
    images: Sequence[str]
    platforms: Sequence[str]  # os/arch[/variant], as written
    jobs: int
    as_json: bool


def sync(options: SyncOptions, loaded: Loaded) -> int:
    try:
        platforms = [Platform.parse(text) for text in options.platforms]
    except InvalidPlatform as error:
        raise ConfigError(f"--platform: {error}") from error
    config = loaded.config()  # no GitHub: its settings are not this command's business
    syncer = build_syncer(config, options.jobs)
    return run_sync(options.images, platforms, config, syncer, syncer.registry.list_tags,
                    jobs=options.jobs, as_json=options.as_json)
