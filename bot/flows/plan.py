"""Plan: what the bot would do with an issue, decided offline.

Rule: every image named in the request gets exactly one decision — `invalid` (not a reference,
or a platform the mirror does not offer), `denied` (the allowlist says no, naming the rule) or
`allowed` (with its mirrored address) — a suggestion where a near miss is allowed, and notes
on what was read differently from what was typed. A refused image's suggestion is the request
reader's did-you-mean, or a prose hint naming a popular official image, and only when allowed;
an allowed image's suggestion is for when the copy finds nothing upstream (a popular name one
typo away, `:latest` for `:lastest`, `mysql:8.0.28` for `mysql8.0.28`); reasons and notes are Messages
(bot/messages.py), shown translated in comments and as English in `--json`. `k8s.gcr.io` is frozen and
redirected by the Kubernetes project: its images are planned from `registry.k8s.io` when the
allowlist allows that name, and refused with it as the suggestion otherwise. A tag pattern is
planned unexpanded: the decision is on its repository (deny rules without a tag glob; any allow
rule for it), and `expand_pattern` decides each tag once the upstream tags are known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.errors import ErrorKind, MirrorBotError
from bot.image.platform import Platform
from bot.image.reference import Reference, TagPattern
from bot.messages import Message, joined, message
from bot.policy.allowlist import Allowlist
from bot.policy.naming import Namer
from bot.policy.suggest import (
    not_found_suggestion,
    popular_near_miss,
    popular_official_images,
    suggest,
)
from bot.policy.tags import TooManyTags
from bot.policy.tags import expand_pattern as select_pattern
from bot.request.title import ImageRequest, RequestedImage, parse_request

Verdict = Literal["allowed", "denied", "invalid"]
FROZEN_REGISTRY = "k8s.gcr.io"
FROZEN_REDIRECT = "registry.k8s.io"
NOT_AN_IMAGE = message("not an image reference")


@dataclass(frozen=True)
class PlannedImage:
    input: str
    source: Reference | None
    target: Reference | None
    platforms: tuple[Platform, ...]
    decision: Verdict
    reason: Message
    suggestion: str | None = None
    notes: tuple[Message, ...] = ()
    # A tag pattern, unexpanded (source and target are then None): the source's and the
    # mirror's repository with the same glob.
    pattern: TagPattern | None = None
    pattern_target: TagPattern | None = None
    error_kind: str | None = None  # the refusal's kind when it is not the decision itself
    # Every further address the image is served under: Docker Hub's short form, other mirrors.
    also: tuple[Reference, ...] = ()
    # Every address, the form the user wrote first (`nginx` -> `…/docker.io/nginx`).
    addresses_for_people: tuple[Reference, ...] = ()

    @property
    def targets(self) -> tuple[Reference, ...]:
        """Every address, the primary's canonical one first."""
        return (self.target, *self.also) if self.target else ()

    def to_json(self) -> dict[str, Any]:
        source = self.pattern or self.source
        target = self.pattern_target or self.target
        return {
            "input": self.input,
            "source": str(source) if source else None,
            "target": str(target) if target else None,
            "platforms": [str(p) for p in self.platforms] if self.platforms else "all",
            "decision": self.decision,
            "reason": str(self.reason),
            "suggestion": self.suggestion,
            "pattern": self.pattern is not None,
            "notes": [str(note) for note in self.notes],
            "targets": [str(t) for t in self.targets] or ([str(target)] if target else []),
        }


@dataclass(frozen=True)
class Plan:
    images: tuple[PlannedImage, ...]
    platforms: tuple[Platform, ...] = ()

    @property
    def allowed(self) -> list[PlannedImage]:
        """Allowed images with a concrete source (tag patterns are in `patterns`)."""
        return [image for image in self.images if image.decision == "allowed" and not image.pattern]

    @property
    def patterns(self) -> list[PlannedImage]:
        """Allowed tag patterns, to expand against the upstream tags (`expand_pattern`)."""
        return [image for image in self.images if image.decision == "allowed" and image.pattern]

    def to_json(self) -> dict[str, Any]:
        return {"images": [image.to_json() for image in self.images]}


def plan_request(request: ImageRequest, allowlist: Allowlist, namer: Namer | None) -> Plan:
    """The decision on every image of `request`; without a `namer` (no mirror configured) the
    allowed images have no target: the decisions stand, the addresses are unknown."""
    platforms = request.platforms
    refused_platforms = [p for p in platforms if not allowlist.platform_allowed(p)]
    platform_problem = joined(request.problems) if request.problems else None
    if refused_platforms:
        platform_problem = message(
            "platform %(platforms)s is not offered by this mirror (offered: %(offered)s)",
            platforms=", ".join(map(str, refused_platforms)),
            offered=", ".join(map(str, allowlist.settings.platforms or ())))
    planned = []
    for image in request.images:
        first = PlannedImage(image.input, image.reference, None, platforms, "invalid",
                             platform_problem or NOT_AN_IMAGE, notes=image.notes,
                             pattern=image.pattern)
        if image.reference is not None and not platform_problem:
            planned.append(_plan_reference(first, image.reference, allowlist, namer))
        elif image.pattern is not None and not platform_problem:
            planned.append(_plan_pattern(first, image.pattern, allowlist, namer))
        elif image.reference is None and image.pattern is None:
            planned.append(replace(first, reason=image.error or NOT_AN_IMAGE,
                                   suggestion=_meant(image, allowlist)))
        else:
            planned.append(first)
    return Plan(tuple(planned), platforms)


def _meant(image: RequestedImage, allowlist: Allowlist) -> str | None:
    """What a refused image most likely meant, when it is allowed: the reader's did-you-mean,
    or a prose hint that names a popular official image (never a guess at anything else)."""
    if image.suggestion is not None:
        return suggest(image.suggestion, None, allowlist)
    if image.hint is not None and image.hint.partition(":")[0] in popular_official_images():
        return suggest(image.hint, None, allowlist)
    return None


def _plan_reference(image: PlannedImage, ref: Reference, allowlist: Allowlist,
                    namer: Namer | None) -> PlannedImage:
    if ref.registry == FROZEN_REGISTRY:
        moved = Reference(FROZEN_REDIRECT, ref.repository, ref.tag, ref.digest)
        if not allowlist.decide(moved).allowed:
            return replace(image, decision="denied", suggestion=str(moved), reason=message(
                "%(frozen)s is frozen and redirected to %(redirect)s by the Kubernetes project, and "
                "%(name)s is not allowed here: %(reason)s", frozen=FROZEN_REGISTRY,
                redirect=FROZEN_REDIRECT, name=moved.name, reason=allowlist.decide(moved).reason))
        image = replace(image, source=moved, notes=(*image.notes, _frozen_note(moved)))
        ref = moved
    decision = allowlist.decide(ref)
    if not decision.allowed:
        return replace(image, decision="denied", reason=decision.reason,
                       suggestion=suggest(image.input, ref, allowlist))
    addressed: dict[str, Any] = {}
    if namer is not None:
        try:
            target, *also = namer.targets(ref)
        except MirrorBotError as error:
            return replace(image, reason=_unnamed(error))
        short_first = "library/" not in image.input.lower()
        addressed = {"target": target, "also": tuple(also), "addresses_for_people": tuple(
            namer.targets(ref, short_first=short_first))}
    near = popular_near_miss(ref)
    if near is not None and allowlist.decide(near).allowed:
        note = message("%(name)s is one typo away from the official image %(official)s; if the "
                       "copy finds nothing, ask for %(suggestion)s",
                       name=ref.repository.rsplit("/", 1)[-1],
                       official=near.repository.rsplit("/", 1)[-1], suggestion=near)
        image = replace(image, suggestion=str(near), notes=(*image.notes, note))
    elif (meant := not_found_suggestion(ref)) is not None and allowlist.decide(meant).allowed:
        # `:lastest` could be a real tag: read as written, suggested only if upstream lacks it.
        image = replace(image, suggestion=str(meant))
    return replace(image, decision="allowed", reason=decision.reason, **addressed)


def _frozen_note(moved: Reference) -> Message:
    return message("%(frozen)s is frozen and redirected to %(redirect)s by the Kubernetes project: "
                   "mirrored from %(source)s", frozen=FROZEN_REGISTRY, redirect=FROZEN_REDIRECT,
                   source=moved)


def _unnamed(error: MirrorBotError) -> Message:
    """Why an allowed image has no mirrored address: the naming rule's own sentence, or (for a
    naming template the maintainers wrote wrong) its error quoted."""
    if isinstance(error.said, Message):
        return error.said
    return message("this mirror's naming template gives no address: %(problem)s", problem=error.said)


def _plan_pattern(image: PlannedImage, pattern: TagPattern, allowlist: Allowlist,
                  namer: Namer | None) -> PlannedImage:
    if pattern.registry == FROZEN_REGISTRY:
        pattern = TagPattern(FROZEN_REDIRECT, pattern.repository, pattern.glob)
        image = replace(image, pattern=pattern, notes=(*image.notes, _frozen_note(
            Reference(FROZEN_REDIRECT, pattern.repository))))
    decision = allowlist.decide_repository(Reference(pattern.registry, pattern.repository))
    if not decision.allowed:
        return replace(image, decision="denied", reason=decision.reason)
    if namer is None:
        return replace(image, decision="allowed", reason=decision.reason)
    try:
        target = namer.target(Reference(pattern.registry, pattern.repository))
    except MirrorBotError as error:
        return replace(image, reason=_unnamed(error))
    return replace(image, decision="allowed", reason=decision.reason,
                   pattern_target=TagPattern(target.registry, target.repository, pattern.glob))


def expand_pattern(image: PlannedImage, tags: Iterable[str], allowlist: Allowlist, namer: Namer,
                   cap: int) -> tuple[PlannedImage, ...]:
    """A planned tag pattern against the upstream tags: one planned image per matching tag (newest
    first), each decided by the allowlist (tag globs and deny rules apply here); more than `cap`
    matches is one `invalid` entry, of kind `too_many_tags`, with the count and the first ones."""
    pattern = image.pattern
    if pattern is None:
        return (image,)
    try:
        # Upstream's answer is untrusted: only tags of the reference grammar count.
        matches = select_pattern(pattern.glob, (tag for tag in tags if pattern.matches(tag)), cap)
    except TooManyTags as error:
        return (replace(image, decision="invalid", pattern_target=None, reason=error.said,
                        error_kind=ErrorKind.TOO_MANY_TAGS),)
    if not matches:
        return (replace(image, decision="invalid", pattern_target=None, error_kind=ErrorKind.NOT_FOUND,
                        reason=message("no tag of %(name)s upstream matches '%(glob)s'",
                                       name=pattern.name, glob=pattern.glob)),)
    return tuple(
        _plan_reference(replace(image, source=pattern.reference(tag), pattern=None,
                                pattern_target=None), pattern.reference(tag), allowlist, namer)
        for tag in matches)


@dataclass(frozen=True)
class Expansion:
    """One image the request named, and what it became: a tag pattern's matching tags (or its
    refusal), an image itself."""

    named: PlannedImage
    images: tuple[PlannedImage, ...]

    @property
    def copies(self) -> int:
        """The images of it that would be copied."""
        return sum(1 for image in self.images if image.decision == "allowed" and not image.pattern)


def cap_request(expansions: Sequence[Expansion], cap: int, *,
                count_images: bool) -> tuple[PlannedImage, ...]:
    """One cap over a whole request: the tags of all its patterns that would be copied, and with
    `count_images` (an issue) its images too. Over it, every pattern is refused (`invalid`, kind
    `too_many_tags`) and, in an issue, every image as well: nothing is copied. `sync` and the
    action count patterns only, so a step listing many images still copies them."""
    total = sum(e.copies for e in expansions if e.named.pattern is not None or count_images)
    if total <= cap:
        return tuple(image for e in expansions for image in e.images)
    if count_images:
        reason = message("this request asks for %(count)s tags and images in all, more than the "
                         "%(cap)s one request may ask for, so nothing is copied; ask for fewer in "
                         "each issue, or narrow the patterns", count=total, cap=cap)
    else:
        reason = message("the tag patterns match %(count)s tags in all, more than the %(cap)s one "
                         "request may ask for, so none of them is copied; narrow the patterns",
                         count=total, cap=cap)
    return tuple(image for e in expansions for image in (
        (replace(e.named, decision="invalid", pattern_target=None, reason=reason,
                 error_kind=ErrorKind.TOO_MANY_TAGS),)
        if e.copies and (e.named.pattern is not None or count_images) else e.images))


def refuse_allowed(plan: Plan, reason: Message, kind: ErrorKind) -> Plan:
    """The plan with every image it would copy refused as `invalid` for `reason` (a request that
    may not start at all: nothing of it is copied)."""
    return replace(plan, images=tuple(
        replace(image, decision="invalid", reason=reason, error_kind=kind)
        if image.decision == "allowed" else image for image in plan.images))


def plan_issue(
    title: str,
    body: str,
    allowlist: Allowlist,
    namer: Namer | None,
    mirror_prefixes: Mapping[str, str],
) -> Plan:
    """The plan for an issue; `mirror_prefixes` are other mirrors' (Config.other_mirrors);
    `namer` None plans without a mirror (see `plan_request`)."""
    request = parse_request(title, body, namer.pasted_prefixes if namer else (),
                            allowlist.settings.max_images_per_issue,
                            mirror_prefixes=mirror_prefixes,
                            registries=allowlist.registries)
    return plan_request(request, allowlist, namer)
