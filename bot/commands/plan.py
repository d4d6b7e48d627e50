"""Wiring for `plan`: what the bot would decide for an issue's title and body, offline.

Rule: the configuration is read once; nothing is copied and no registry or GitHub is asked, so
only the pure layers are imported (no HTTP client, templates or forge) and `plan` starts fast.
"""

from __future__ import annotations

import argparse

from bot.commands.output import json_text, redacting
from bot.config import Loaded
from bot.flows.plan import plan_issue


@redacting
def plan(args: argparse.Namespace, loaded: Loaded) -> int:
    config = loaded.config()
    plan = plan_issue(args.title, args.body, config.allowlist, config.namer, config.other_mirrors)
    if args.json:
        print(json_text(plan.to_json(), config.secret_set))
        return 0
    for image in plan.images:
        platforms = ", ".join(map(str, image.platforms)) if image.platforms else "all platforms"
        print(f"{image.input}: {image.decision.upper()}")
        if image.source:
            print(f"  source:     {image.source}")
        if image.target:
            print(f"  target:     {image.target} ({platforms})")
        print(f"  reason:     {image.reason}")
        for note in image.notes:
            print(f"  note:       {note}")
        if image.suggestion:
            print(f"  did you mean: {image.suggestion}")
    return 0
