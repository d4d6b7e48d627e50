"""bot/units.py: the one parser of counts, durations and sizes, and its one-line
errors; and the environment, the command line and the allowlist all reading through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import units
from bot.cli import main
from bot.config import Section, read_config
from bot.errors import ConfigError
from bot.policy.allowlist_file import parse_allowlist
from tests.fixtures import REPO_ROOT


@pytest.mark.parametrize(("text", "value"), [("4", 4), (" 12 ", 12), ("1", 1), ("1000000", 10**6)])
def test_whole_numbers(text: str, value: int) -> None:
    assert units.whole_number(text) == value


@pytest.mark.parametrize(("text", "reason"), [
    ("many", "is not a whole number"), ("2.5", "is not a whole number"),
    ("", "is not a whole number"), ("0", "must be a whole number from 1 to 1000000"),
    ("-3", "must be a whole number from 1"), ("1000001", "to 1000000"),
])
def test_whole_numbers_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        units.whole_number(text)


def test_a_whole_number_with_its_own_bounds() -> None:
    assert units.whole_number("0", minimum=0) == 0
    with pytest.raises(ValueError, match="from 0 to 5"):
        units.whole_number("6", minimum=0, maximum=5)


def test_above_refuses_the_minimum_itself() -> None:
    assert units.duration("0.001", above=True) == 0.001
    with pytest.raises(ValueError, match="must be a duration more than 0s to 1000000s"):
        units.duration("0", above=True)


@pytest.mark.parametrize(("text", "seconds"), [
    ("30", 30.0), ("2.5", 2.5), ("0.01", 0.01), ("1e3", 1000.0), ("500ms", 0.5), ("90s", 90.0),
    ("5m", 300.0), ("1h", 3600.0), ("1.5 m", 90.0),
])
def test_durations_are_seconds_or_carry_a_unit(text: str, seconds: float) -> None:
    assert units.duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "reason"), [
    ("soon", "is not a duration"), ("5 minutes", "is not a duration"), ("5M", "is not a duration"),
    ("nan", "is not a duration"), ("inf", "is not a duration"), ("1e300", "must be a duration"),
    ("-5", "must be a duration from 0s to 1000000s"), ("300h", "must be a duration"),
])
def test_durations_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        units.duration(text)


def test_a_duration_minimum_is_in_seconds() -> None:
    assert units.duration("1s", minimum=1) == 1.0
    with pytest.raises(ValueError, match="from 1s"):
        units.duration("500ms", minimum=1)


@pytest.mark.parametrize(("value", "size"), [
    ("1048576", 1 << 20), ("64MiB", 64 << 20), ("1GiB", 1 << 30), ("1.5GiB", int(1.5 * 2**30)),
    ("500MB", 500 * 10**6), ("5 GiB", 5 << 30), ("2KB", 2000), ("3KiB", 3072), ("7B", 7),
    ("1TiB", 1 << 40), ("1TB", 10**12), (1000, 1000), (2.0, 2),
])
def test_sizes_every_form_the_settings_accepted(value: str | int, size: int) -> None:
    assert units.size(value) == size


@pytest.mark.parametrize("value", ["big", "64mib", "64 M", "-5MiB", "1e3", "", "inf", True, None,
                                   "9" * 400])
def test_sizes_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        units.size(value)  # type: ignore[arg-type]  # refusing what is not a size is the point


@pytest.mark.parametrize("value", ["0", "0.5B", 0])
def test_a_size_is_at_least_one_byte(value: str | int) -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        units.size(value)


def test_read_names_the_variable_in_one_line() -> None:
    with pytest.raises(ConfigError) as raised:
        units.read("MIRROR_TIMEOUT", "abc", units.duration)
    message = str(raised.value)
    assert message.startswith("MIRROR_TIMEOUT='abc' is not a duration (seconds, or with a unit")
    assert "\n" not in message
    with pytest.raises(ConfigError) as raised:
        units.read("X", "a" * 500, units.size)
    assert str(raised.value).startswith(f"X='{'a' * 40}' is not a size")  # the quote is cut short


# -- the three readers go through it -----------------------------------------------------------

def test_the_environment_reads_through_units(tmp_path: Path) -> None:
    loaded = read_config({"MIRROR_TIMEOUT": "2m", "MIRROR_RETRY_BASE_DELAY": "10ms",
                          "MIRROR_BLOB_CHUNK": "4MiB", "MIRROR_COPY_PROCESSES": "3",
                          "MIRROR_GITHUB_SECONDARY_WAIT": "1m"})
    loaded.require(Section.LIMITS, Section.ENGINE, Section.GITHUB)
    assert (loaded.limits.registry_timeout, loaded.limits.retry_base_delay) == (120.0, 0.01)
    assert (loaded.engine.blob_chunk, loaded.engine.copy_processes) == (4 << 20, 3)
    assert loaded.github.secondary_wait == 60.0


def test_the_command_line_reads_through_units(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, words in [(["sync", "--jobs", "many", "x"], "argument --jobs: 'many' is not a whole number"),
                        (["sweep", "--time-budget", "0"], "argument --time-budget: '0' must be a "
                                                          "duration more than 0s")]:
        with pytest.raises(SystemExit) as stop:
            main(argv, {"MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml")})
        assert stop.value.code == 2
        assert words in capsys.readouterr().err


def test_the_allowlist_reads_sizes_through_units() -> None:
    allowlist, problems = parse_allowlist(
        "allow:\n  - docker.io/library/*\nsettings:\n  max_image_size: 64MiB\n", "a.yaml")
    assert problems == [] and allowlist.settings.max_image_size == 64 << 20
    _, problems = parse_allowlist(
        "allow:\n  - docker.io/library/*\nsettings:\n  max_image_size: 64mib\n", "a.yaml")
    assert [p.message for p in problems] == [
        "settings.max_image_size: '64mib' is not a size (write e.g. 5GiB, 500MB or a number of "
        "bytes)"]


def test_a_variable_with_a_default_says_to_unset_it_or_write_the_default() -> None:
    with pytest.raises(ConfigError) as raised:
        units.read("MIRROR_RETRY_ATTEMPTS", "x", units.whole_number, 3)
    assert str(raised.value) == ("MIRROR_RETRY_ATTEMPTS='x' is not a whole number; unset it or "
                                 "write e.g. MIRROR_RETRY_ATTEMPTS=3")
    with pytest.raises(ConfigError) as raised:
        units.read("MIRROR_TIMEOUT", "soon", units.duration, 30.0)
    assert str(raised.value).endswith("; unset it or write e.g. MIRROR_TIMEOUT=30")
