"""Near misses: name the allowed image a user probably meant.

Rule: a suggestion is offered only when it is allowed and it is close to what was typed: an
allowlisted repository within two edits (a swapped pair of letters is one edit), the one
allowlisted repository with the same last name, or — for a Docker Hub official name — a
popular official image one edit away (`ngnix` -> `nginx`; the list ships in
`bot/data/popular_images.txt`, no network). What could be a real tag or name is read as written
and suggested again only when the upstream does not know it: `:latest` for a tag written with
its letters that starts as it does (`:lastest`, `:lates`, `:last`), and `mysql:8.0.28` for a popular
official name with a version glued to it (`mysql8.0.28`). Never a wide guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources

from bot.errors import InvalidReference
from bot.image import reference
from bot.image.grammar import TAG_RE
from bot.image.reference import DEFAULT_REGISTRY, DEFAULT_TAG, OFFICIAL_NAMESPACE, Reference
from bot.policy.allowlist import Allowlist

MAX_DISTANCE = 2
POPULAR_DISTANCE = 1
POPULAR_FILE = "popular_images.txt"
LATEST_TYPO_LENGTHS = (3, 8)  # `las` … `lastestt`


def closest(name: str, candidates: Sequence[str], limit: int = MAX_DISTANCE) -> str | None:
    """The candidate nearest to `name` within `limit` edits (not `name` itself), or None."""
    # Imported here: only a near miss needs it, and every sync and request would otherwise pay
    # for its import (~9 ms) before the first registry request.
    from rapidfuzz import process  # noqa: PLC0415
    from rapidfuzz.distance import OSA  # noqa: PLC0415

    others = [candidate for candidate in candidates if candidate != name]
    match = process.extractOne(name, others, scorer=OSA.distance, score_cutoff=limit)
    return match[0] if match else None


@cache
def popular_official_images() -> frozenset[str]:
    """The shipped list of popular Docker Hub official image names."""
    text = resources.files("bot").joinpath("data", POPULAR_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def popular_near_miss(ref: Reference) -> Reference | None:
    """`docker.io/library/ngnix:1.27` -> `docker.io/library/nginx:1.27`: an official name one
    edit from a popular one that it is not itself. None for anything else."""
    namespace, _, name = ref.repository.partition("/")
    if ref.registry != DEFAULT_REGISTRY or namespace != OFFICIAL_NAMESPACE:
        return None
    popular = popular_official_images()
    if name in popular:
        return None
    match = closest(name, sorted(popular), POPULAR_DISTANCE)
    if match is None:
        return None
    return Reference(ref.registry, f"{OFFICIAL_NAMESPACE}/{match}", ref.tag, ref.digest)


def not_found_suggestion(ref: Reference) -> Reference | None:
    """What to ask for when the upstream has no `ref`: `…:latest` for a tag that is a typo of it
    (`lastest`, `lates`, `last`), `…/mysql:8.0.28` for a popular official name with a version
    glued to it (`mysql8.0.28`, tag latest). None for anything else."""
    tag = ref.tag or ""
    if tag != DEFAULT_TAG and _latest_typo(tag):
        return ref.with_tag(DEFAULT_TAG) if ref.digest is None else None
    namespace, _, name = ref.repository.partition("/")
    if ref.registry != DEFAULT_REGISTRY or namespace != OFFICIAL_NAMESPACE or tag != DEFAULT_TAG:
        return None
    for popular in sorted(popular_official_images(), key=len, reverse=True):
        version = name[len(popular) :]
        if name.startswith(popular) and version[:1].isdigit() and TAG_RE.match(version):
            return Reference(ref.registry, f"{OFFICIAL_NAMESPACE}/{popular}", version)
    return None


def _latest_typo(tag: str) -> bool:
    """`lastest`, `lates`, `laste`, `last`, `lateset`: written with the letters of `latest` and
    starting as it does (`lite`, `least` or `later` are not)."""
    return tag.startswith(DEFAULT_TAG[:2]) and set(tag) <= set(DEFAULT_TAG) \
        and LATEST_TYPO_LENGTHS[0] <= len(tag) <= LATEST_TYPO_LENGTHS[1]


def _candidates(allowlist: Allowlist, ref: Reference) -> list[str]:
    """Allowlisted names shaped like `ref`: the literal ones (computed once per allowlist), and
    wildcard rules filled with the user's own components."""
    parts = ref.repository.split("/")
    names = list(allowlist.known_repositories)
    for pattern in allowlist.wildcard_allows:
        filled: list[str] = []
        for position, part in enumerate(pattern.path):
            if part == "**":
                filled.extend(parts[position:] or ["x"])
                break
            filled.append(parts[position] if part == "*" and position < len(parts) else part)
        names.append(f"{pattern.registry}/{'/'.join(filled)}")
    return names


def _allowed(text: str, allowlist: Allowlist) -> str | None:
    try:
        suggestion = reference.parse(text)
    except InvalidReference:
        return None
    return str(suggestion) if allowlist.decide(suggestion).allowed else None


def suggest(text: str, ref: Reference | None, allowlist: Allowlist) -> str | None:
    """The allowed reference the user most likely meant, or None. Without `ref`, `text` is
    already that reference (the request reader's did-you-mean): it is offered when allowed."""
    if ref is None:
        return _allowed(text, allowlist)
    best = closest(ref.name, _candidates(allowlist, ref))
    if best is None:
        last = ref.repository.rsplit("/", 1)[-1]
        same_name = [n for n in allowlist.known_repositories if n.rsplit("/", 1)[-1] == last]
        if len(same_name) == 1 and same_name[0] != ref.name:
            best = same_name[0]
    if best is None:
        popular = popular_near_miss(ref)
        best = popular.name if popular else None
    # The user's own tag and digest, on the name they probably meant.
    return _allowed(best + str(ref)[len(ref.name):], allowlist) if best else None
