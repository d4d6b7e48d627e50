"""Near misses: name the allowlisted repository a user probably meant.

Rule: a suggestion is offered only when an allowlisted repository is within a small edit
distance of what was typed (or equal to it once lowercased), never for a wide guess.
"""

from __future__ import annotations

from bot import reference
from bot.errors import InvalidReference
from bot.policy import Allowlist
from bot.reference import Reference

MAX_DISTANCE = 2


def edit_distance(a: str, b: str, limit: int = MAX_DISTANCE) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _candidates(allowlist: Allowlist, ref: Reference) -> list[str]:
    """Allowlisted names shaped like `ref`: wildcards filled with the user's own components."""
    parts = ref.repository.split("/")
    names = []
    for pattern in allowlist.allow:
        filled: list[str] = []
        for position, part in enumerate(pattern.path):
            if part == "**":
                filled.extend(parts[position:] or ["x"])
                break
            filled.append(parts[position] if part == "*" and position < len(parts) else part)
        names.append(f"{pattern.registry}/{'/'.join(filled)}")
    return names


def suggest(text: str, ref: Reference | None, allowlist: Allowlist) -> str | None:
    """The allowed reference the user most likely meant, or None."""
    if ref is None:
        try:
            lowered = reference.parse(text.lower())
        except InvalidReference:
            return None
        return str(lowered) if allowlist.decide(lowered).allowed else None
    best: tuple[int, str] | None = None
    for name in _candidates(allowlist, ref):
        if name == ref.name:
            continue
        distance = edit_distance(name, ref.name)
        if distance <= MAX_DISTANCE and (best is None or distance < best[0]):
            best = (distance, name)
    if best is None:
        last = ref.repository.rsplit("/", 1)[-1]
        same_name = [n for n in allowlist.known_repositories() if n.rsplit("/", 1)[-1] == last]
        if len(same_name) == 1 and same_name[0] != ref.name:
            best = (0, same_name[0])
    if best is None:
        return None
    try:
        # The user's own tag and digest, on the name they probably meant.
        suggestion = reference.parse(best[1] + str(ref)[len(ref.name):])
    except InvalidReference:
        return None
    return str(suggestion) if allowlist.decide(suggestion).allowed else None
