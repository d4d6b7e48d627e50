"""Counts, durations and sizes written as text: one parser for each, shared by the
environment (bot/config.py), the command line (bot/cli.py) and the allowlist's settings.

Rule: a value is finite and within its bounds, or it is refused. A parser raises ValueError
with a reason that follows the quoted text ("'abc' is not a whole number"); `read` turns that
into a one-line ConfigError that also names the variable and, when it has one, its default as
what to write instead; argparse puts the option's name in front of it. Nothing is guessed: a
bare duration is seconds, a bare size is bytes, `MB` is 10**6 and `MiB` 2**20, and unit names
are written as here (`64mib` is refused rather than read one way or the other).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TypeVar

from bot.errors import ConfigError

T = TypeVar("T")
MAXIMUM = 1_000_000  # no timeout, delay or count the bot reads is sensibly larger
MAX_QUOTED = 40  # of the refused text, in a message
# A decimal number as float() reads it, without the words float() also takes (nan, inf).
NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
DURATION_RE = re.compile(rf"({NUMBER})\s*(ms|s|m|h)?\Z")
SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\Z")
BYTES = {
    None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}


def quoted(text: object) -> str:
    """The refused text as a message quotes it: repr, cut short."""
    return repr(str(text)[:MAX_QUOTED])


def read(name: str, text: str, parse: Callable[[str], T], default: object = None) -> T:
    """`parse(text)`, or a ConfigError of one line that names the variable `name` and says to
    unset it or write its `default` (when there is one)."""
    try:
        return parse(text)
    except ValueError as error:
        instead = "" if default is None else (
            f"; unset it or write e.g. {name}="
            f"{shown(default) if isinstance(default, int | float) else default}")
        raise ConfigError(f"{name}={quoted(text)} {error}{instead}") from error


def shown(bound: float) -> str:
    """A bound as people write it: 1000000, not 1e+06; 0.5, not 0.500000."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _within(value: float, minimum: float, maximum: float, *, above: bool, what: str,
            unit: str = "") -> None:
    """Refuse nan, infinities and values outside the bounds (`above`: the minimum itself is
    refused too)."""
    low = f"more than {shown(minimum)}{unit}" if above else f"from {shown(minimum)}{unit}"
    if math.isnan(value) or value < minimum or (above and value == minimum) or value > maximum:
        raise ValueError(f"must be {what} {low} to {shown(maximum)}{unit}")


def whole_number(text: str, *, minimum: int = 1, maximum: int = MAXIMUM) -> int:
    """A count: `4`."""
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("is not a whole number") from None
    _within(value, minimum, maximum, above=False, what="a whole number")
    return value


def duration(text: str, *, minimum: float = 0, maximum: float = MAXIMUM,
             above: bool = False) -> float:
    """Seconds: `30`, or with a unit: `500ms`, `90s`, `5m`, `1h`; bounds are in seconds."""
    match = DURATION_RE.match(text.strip())
    if match is None:
        raise ValueError("is not a duration (seconds, or with a unit: 500ms, 90s, 5m, 1h)")
    value = float(match.group(1)) * SECONDS[match.group(2)]
    _within(value, minimum, maximum, above=above, what="a duration", unit="s")
    return value


def size(value: str | int | float) -> int:
    """Bytes: `1048576`, or with a unit: `500MB` (10**6), `64MiB` (2**20), `1.5GiB`; at least
    one byte. A number is taken as bytes (YAML reads `max_image_size: 1000` as one)."""
    match = None if isinstance(value, bool) else SIZE_RE.match(str(value).strip())
    amount = float(match.group(1)) * BYTES[match.group(2)] if match else math.nan
    if not math.isfinite(amount):
        raise ValueError("is not a size (write e.g. 5GiB, 500MB or a number of bytes)")
    if amount < 1:
        raise ValueError("is not a size: it must be at least one byte (e.g. 5GiB or 500MB)")
    return int(amount)
