"""Plan: what the bot would do with an issue, decided offline.

Rule: every image named in the request gets exactly one decision — `invalid` (not a reference,
or a platform the mirror does not offer), `denied` (the allowlist says no, naming the rule) or
`allowed` (with its mirrored address) — and a suggestion where a near miss is allowlisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.errors import MirrorBotError
from bot.naming import Namer
from bot.platform import Platform
from bot.policy import Allowlist
from bot.reference import Reference
from bot.request import ImageRequest, parse_request
from bot.suggest import suggest

Verdict = Literal["allowed", "denied", "invalid"]


@dataclass(frozen=True)
class PlannedImage:
    input: str
    source: Reference | None
    target: Reference | None
    platforms: tuple[Platform, ...]
    decision: Verdict
    reason: str
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "source": str(self.source) if self.source else None,
            "target": str(self.target) if self.target else None,
            "platforms": [str(p) for p in self.platforms] if self.platforms else "all",
            "decision": self.decision,
            "reason": self.reason,
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True)
class Plan:
    images: tuple[PlannedImage, ...]
    platforms: tuple[Platform, ...] = ()

    @property
    def allowed(self) -> list[PlannedImage]:
        return [image for image in self.images if image.decision == "allowed"]

    def to_json(self) -> dict[str, Any]:
        return {"images": [image.to_json() for image in self.images]}


def plan_request(request: ImageRequest, allowlist: Allowlist, namer: Namer) -> Plan:
    platforms = request.platforms
    refused_platforms = [p for p in platforms if not allowlist.platform_allowed(p)]
    platform_problem = "; ".join(request.problems) or None
    if refused_platforms:
        offered = ", ".join(map(str, allowlist.settings.platforms or ()))
        platform_problem = (f"platform {', '.join(map(str, refused_platforms))} is not offered by this "
                            f"mirror (offered: {offered})")
    planned = []
    for image in request.images:
        ref = image.reference
        if ref is None:
            planned.append(PlannedImage(image.input, None, None, platforms, "invalid",
                                        image.error or "not an image reference",
                                        suggest(image.input, None, allowlist)))
            continue
        if platform_problem:
            planned.append(PlannedImage(image.input, ref, None, platforms, "invalid", platform_problem))
            continue
        decision = allowlist.decide(ref)
        if not decision.allowed:
            planned.append(PlannedImage(image.input, ref, None, platforms, "denied", decision.reason,
                                        suggest(image.input, ref, allowlist)))
            continue
        try:
            target = namer.target(ref)
        except MirrorBotError as error:
            planned.append(PlannedImage(image.input, ref, None, platforms, "invalid", str(error)))
            continue
        planned.append(PlannedImage(image.input, ref, target, platforms, "allowed", decision.reason))
    return Plan(tuple(planned), platforms)


def plan_issue(
    title: str,
    body: str,
    allowlist: Allowlist,
    namer: Namer,
) -> Plan:
    request = parse_request(title, body, namer.pasted_prefixes,
                            allowlist.settings.max_images_per_issue)
    return plan_request(request, allowlist, namer)
