"""Timestamps as the bot writes them in records and reports: UTC, `2026-11-29T12:00:00Z`; and
as a reader takes them in: how long ago, with the exact UTC time beside it.

Rule: one format everywhere, so records sort as text and compare as times. How long ago is
counted from a clock the caller passes in (never read here), in the largest whole unit: under a
minute is `now`, then minutes, hours, days, months of 30 days and years of 365 days. A moment
more than a minute ahead of that clock (another machine's clock, a forged file) has no elapsed
time: the reader gets the exact time instead of a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EXACT_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # the exact time as a reader reads it
CLOCK_SKEW = timedelta(minutes=1)  # a moment this far ahead of the clock still counts as now


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


class Unit(StrEnum):
    NOW = "now"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


# Each unit from the largest, with its length; NOW is what is left under a minute.
UNIT_LENGTHS = ((Unit.YEAR, timedelta(days=365)), (Unit.MONTH, timedelta(days=30)),
                (Unit.DAY, timedelta(days=1)), (Unit.HOUR, timedelta(hours=1)),
                (Unit.MINUTE, timedelta(minutes=1)))


@dataclass(frozen=True)
class Elapsed:
    """How long ago, in the largest whole unit: `3 hours` is Elapsed(Unit.HOUR, 3)."""

    unit: Unit
    count: int


def elapsed(moment: datetime, clock: datetime) -> Elapsed | None:
    """How long before `clock` `moment` was; None when it is more than CLOCK_SKEW ahead."""
    gone = clock - moment
    if gone < -CLOCK_SKEW:
        return None
    for unit, length in UNIT_LENGTHS:
        if gone >= length:
            return Elapsed(unit, gone // length)
    return Elapsed(Unit.NOW, 0)


@dataclass(frozen=True)
class Moment:
    """A recorded time as a page shows it: machine-readable, exact for a reader, and how long
    before the page's clock."""

    iso: str  # FORMAT, for <time datetime=…>
    exact: str  # EXACT_FORMAT
    ago: Elapsed | None  # None: ahead of the clock, show `exact`


def moment(text: object, clock: datetime) -> Moment | None:
    """`text` (a timestamp in FORMAT) as a page shows it at `clock`; None when it is not one."""
    when = parse(text)
    if when is None:
        return None
    return Moment(to_text(when), when.strftime(EXACT_FORMAT), elapsed(when, clock))
