"""The pull-quota ledger (bot/registry/quota.py): what the headers say, what copies reserve and
spend, when a copy waits and when it is refused, and how long a refusal waits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.registry import quota
from bot.registry.quota import Ledger, Meter, MeteredExecutor, QuotaShort, Told

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# As Docker Hub sends them (docs.docker.com/docker-hub/usage/pulls/).
HUB = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600",
       "docker-ratelimit-source": "192.0.2.1"}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def told(remaining: int, limit: int = 100, window: int = 21600) -> dict[str, str]:
    return {"ratelimit-limit": f"{limit};w={window}",
            "ratelimit-remaining": f"{remaining};w={window}"}


def test_docker_hubs_headers_are_read() -> None:
    assert Told.from_headers(HUB) == Told(100, 76, 21600, "192.0.2.1")
    assert Told.from_headers({"ratelimit-remaining": "3"}) == Told(None, 3, None, "")
    for headers in ({}, {"ratelimit-remaining": "many"}, {"ratelimit-remaining": "-1;w=1"},
                    {"ratelimit-remaining": "1;w=x"}, {"ratelimit-remaining": "9" * 12}):
        assert Told.from_headers(headers) is None, headers


def test_a_registry_without_headers_holds_nothing_back() -> None:
    ledger = Ledger("quay.io")
    meter = Meter()
    meter.at(ledger).need(1000)
    with quota.metering(meter):
        for _ in range(5):
            with ledger.pull():
                pass
    assert ledger.left() is None and not ledger.known
    assert meter.pulls == 5 and ledger.spent == 5


def test_reservations_and_pulls_count_down_what_is_left() -> None:
    ledger = Ledger("docker.io", Clock())
    ledger.observe(told(20))
    first, second = Meter(), Meter()
    first.at(ledger).need(11)
    assert ledger.left() == 9
    with quota.metering(first), ledger.pull():  # the index
        pass
    assert ledger.left() == 9  # one reserved pull spent: the count went down with it
    first.at(ledger).need(2)  # the index lists 2: 8 go back
    assert ledger.left() == 17
    second.at(ledger).need(11)
    assert ledger.left() == 6
    # A late answer cannot give back pulls already spent (within a minute of the last count).
    ledger.observe(told(20))
    assert ledger.left() == 6
    first.release()
    second.release()
    assert ledger.left() == 19 and first.pulls == 1 and second.pulls == 0


def test_a_copy_holding_nothing_waits_for_others_reservations_and_is_refused_when_the_count_is_low(
        ) -> None:
    ledger = Ledger("docker.io", Clock())
    ledger.observe(told(12))
    holder, waiter = Meter(), Meter()
    holder.at(ledger).need(11)
    started, done = threading.Event(), threading.Event()

    def wait_for_pulls() -> None:
        started.set()
        waiter.at(ledger).need(11)
        done.set()

    thread = threading.Thread(target=wait_for_pulls)
    thread.start()
    started.wait()
    assert not done.is_set()
    with quota.metering(holder), ledger.pull():
        pass
    holder.release()  # 11 left, none held: the waiter gets them
    thread.join(timeout=10)
    assert done.is_set() and ledger.left() == 0
    # A copy that holds some never waits for more: it gets them or is refused at once.
    with pytest.raises(QuotaShort):
        waiter.at(ledger).need(12)
    # Nor does one that holds nothing when the registry's own count is too low.
    with quota.metering(waiter):
        for _ in range(11):
            with ledger.pull():
                pass
    with pytest.raises(QuotaShort) as refused:
        Meter().at(ledger).need(1)
    assert refused.value.left == 0 and refused.value.needed == 1


def test_a_get_beyond_what_was_reserved_takes_one_more_while_one_is_left() -> None:
    ledger = Ledger("docker.io", Clock())
    ledger.observe(told(1))
    meter = Meter()
    with quota.metering(meter):
        with ledger.pull():
            pass
        with pytest.raises(QuotaShort), ledger.pull():
            pass
    with pytest.raises(QuotaShort), ledger.pull():  # nobody's GET: the same rule
        pass
    assert meter.pulls == 1 and ledger.spent == 1


def test_a_429_stops_every_read_until_its_time_whatever_the_count_says() -> None:
    clock = Clock()
    ledger = Ledger("docker.io", clock)
    ledger.observe(told(50))
    assert ledger.exhausted(600) == 600
    ledger.observe(told(49))  # another answer says pulls are left: the 429's time stands
    with pytest.raises(QuotaShort) as refused:
        Meter().at(ledger).need(1)
    assert refused.value.retry_after == 600
    clock.now += timedelta(seconds=601)
    Meter().at(ledger).need(1)
    assert ledger.left() == 48


def test_how_long_a_short_copy_waits() -> None:
    clock = Clock()
    ledger = Ledger("docker.io", clock)
    assert ledger.wait_for(11) == 3600  # nothing told: an hour
    ledger.observe(told(0))
    assert ledger.wait_for(11) == 21600 * 11 / 100  # their share of the window
    assert ledger.wait_for(1) == 216
    ledger.observe(told(0, limit=1000, window=3600))
    assert ledger.wait_for(1) == 60  # at least a minute
    assert ledger.wait_for(5000) == 3600  # at most the window
    ledger.observe({"ratelimit-remaining": "0;w=3600"})
    assert ledger.wait_for(5) == 3600  # a window without a limit: the window
    assert ledger.exhausted() == 3600  # a 429 without Retry-After: until a pull comes back


def test_the_refusal_says_what_is_left_and_needed() -> None:
    ledger = Ledger("docker.io", Clock())
    ledger.observe(told(3))
    with pytest.raises(QuotaShort) as refused:
        Meter().at(ledger).need(11)
    assert str(refused.value) == ("docker.io's pull quota has 3 pulls left of 100 per 6 h, "
                                  "fewer than the 11 this image needs")
    assert refused.value.transient and refused.value.retry_after == 21600 * 11 / 100


def test_a_read_outside_the_client_is_charged_to_the_image_and_the_ledger() -> None:
    ledger = Ledger("docker.io", Clock())
    ledger.observe(told(10))
    meter = Meter()
    meter.at(ledger).need(3)
    with quota.metering(meter):
        quota.charge(ledger, 2)
    quota.charge(ledger)  # nobody's
    assert meter.pulls == 2 and ledger.spent == 3
    assert meter.reservations["docker.io"].held == 1 and ledger.left() == 6


def test_a_metered_pool_runs_each_task_under_its_submitters_meter() -> None:
    ledger = Ledger("docker.io")
    meters = [Meter(), Meter()]

    def pull(_: int) -> None:
        with ledger.pull():
            pass

    with MeteredExecutor(4) as pool:
        for count, meter in zip((3, 5), meters, strict=True):
            with quota.metering(meter):
                list(pool.map(pull, range(count)))
    assert [m.pulls for m in meters] == [3, 5] and quota.current() is None
