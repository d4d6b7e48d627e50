"""Timestamps as the bot writes them in records and reports: UTC, `2026-11-29T12:00:00Z`.

Rule: one format everywhere, so records sort as text and compare as times.
"""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now() -> datetime:
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def now_text() -> str:
    return to_text(now())


def parse(text: object) -> datetime | None:
    """The moment `text` names, or None when it is not a timestamp in our format."""
    try:
        return datetime.strptime(str(text), FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
