"""Which records the bot may act on: only what today's configuration would mirror.

Rule: a record was written by the bot (the forge checked the author) and is well formed
(`bot.records.record` checked that), but it may be old. Before any record is listed, resynced or
copied to, each of its images is checked against today's rules: its source must parse and be
allowed by today's allowlist (else it is rejected: skipped with a warning, never copied to),
and its target must be an address today's naming gives that source (else it is stale: shown as
such on the status page, never copied to). Platforms must parse.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.errors import InvalidReference, MirrorBotError
from bot.image import reference
from bot.image.platform import InvalidPlatform, Platform
from bot.policy.allowlist import Allowlist
from bot.policy.naming import Namer
from bot.records.record import RecordedImage


class Standing(StrEnum):
    TRUSTED = "trusted"
    STALE = "stale"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImageCheck:
    image: RecordedImage
    standing: Standing
    reason: str = ""


def check_image(image: RecordedImage, allowlist: Allowlist, namer: Namer) -> ImageCheck:
    """Where a recorded image stands under today's allowlist and naming (pure)."""
    try:
        source = reference.parse(image.source)
    except InvalidReference as error:
        return ImageCheck(image, Standing.REJECTED, f"source is not a reference: {error.reason}")
    if str(source) != image.source:
        return ImageCheck(image, Standing.REJECTED, "source is not written normalised")
    try:
        for platform in image.platforms:
            Platform.parse(platform)
    except InvalidPlatform as error:
        return ImageCheck(image, Standing.REJECTED, str(error))
    decision = allowlist.decide(source)
    if not decision.allowed:
        return ImageCheck(image, Standing.REJECTED, f"not allowed today: {decision.reason}")
    try:
        expected = {str(target) for target in namer.targets(source)}
    except MirrorBotError as error:
        return ImageCheck(image, Standing.STALE, f"no address today: {error}")
    # Further addresses today's configuration no longer gives are dropped, never acted on.
    image = replace(image, also=tuple(a for a in image.also if a in expected))
    if image.target not in expected:
        return ImageCheck(image, Standing.STALE,
                          f"today's address is {sorted(expected)[0]}, not {image.target}")
    return ImageCheck(image, Standing.TRUSTED)
