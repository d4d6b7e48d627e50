"""What a doctor check says: its name, whether it passed, and one line of detail.

Rule: a failed check says what is wrong and how to fix it, in that order, on one line; a check
that could not run because an earlier one failed is skipped with the reason, never guessed at.
Text that came from a registry, skopeo or GitHub is redacted and flattened to one line first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from bot.redaction import redact

MAX_SAID = 240  # of a registry's or GitHub's own words quoted in a line


class Status(Enum):
    PASSED = "✓"
    WARNING = "!"  # works, but should be looked at; does not fail the doctor
    FAILED = "✗"
    SKIPPED = "-"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    @classmethod
    def passed(cls, name: str, detail: str) -> Check:
        return cls(name, Status.PASSED, detail)

    @classmethod
    def warning(cls, name: str, problem: str, fix: str) -> Check:
        return cls(name, Status.WARNING, f"{problem} — {fix}")

    @classmethod
    def failed(cls, name: str, problem: str, fix: str = "") -> Check:
        return cls(name, Status.FAILED, f"{problem} — {fix}" if fix else problem)

    @classmethod
    def skipped(cls, name: str, reason: str) -> Check:
        return cls(name, Status.SKIPPED, f"skipped: {reason}")

    @property
    def failing(self) -> bool:
        return self.status is Status.FAILED

    def line(self) -> str:
        return f"{self.status.value} {self.name}: {self.detail}"


def said(text: str, secrets: Iterable[str]) -> str:
    """Someone else's message, fit for one line of the doctor's output."""
    flat = " ".join(redact(text, secrets).split())
    return flat if len(flat) <= MAX_SAID else flat[: MAX_SAID - 1] + "…"
