"""Wiring for `plan`: what the bot would decide for an issue's title and body, offline.

Rule: the configuration is read once; nothing is copied and no registry or GitHub is asked, so
only the pure layers are imported (no HTTP client, templates or forge) and `plan` starts fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bot.config import Loaded, other_mirrors
from bot.flows.plan import plan_issue


@dataclass(frozen=True)
class PlanOptions:
    title: str
    body: str
    as_json: bool


NO_MIRROR_NOTE = ("no mirror is configured (MIRROR_REGISTRY or settings.mirror_registry): "
                  "these are the decisions only, without mirrored addresses")


def plan(options: PlanOptions, loaded: Loaded) -> int:
    allowlist, namer = loaded.deciding()
    plan = plan_issue(options.title, options.body, allowlist, namer, other_mirrors(allowlist))
    if namer is None:
        print(f"mirror-bot: note: {NO_MIRROR_NOTE}", file=sys.stderr)
    if options.as_json:
        data = plan.to_json()
        if namer is None:
            data["note"] = NO_MIRROR_NOTE
        print(loaded.secret_set.json(data))
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
