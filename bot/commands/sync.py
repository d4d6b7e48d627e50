"""Wiring for `sync`: images named on the command line, copied and verified, no GitHub.

Rule: the configuration is read once and bad input is one ConfigError (exit 2) before any
copy; only what a copy needs is imported (no comments, templates or forge), because a
one-image sync pays for every import before its first request.
"""

from __future__ import annotations

import argparse

from bot.commands.adapters import build_syncer
from bot.commands.output import redacting
from bot.config import Loaded
from bot.errors import ConfigError
from bot.flows.sync_images import run_sync
from bot.image.platform import InvalidPlatform, Platform


@redacting
def sync(args: argparse.Namespace, loaded: Loaded) -> int:
    try:
        platforms = [Platform.parse(text) for text in args.platform]
    except InvalidPlatform as error:
        raise ConfigError(f"--platform: {error}") from error
    config = loaded.config()  # no GitHub: its settings are not this command's business
    syncer = build_syncer(config)
    return run_sync(args.images, platforms, config, syncer, syncer.registry.list_tags,
                    jobs=args.jobs, as_json=args.json)
