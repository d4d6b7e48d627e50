"""Pull quotas: one ledger per registry per process, and the pulls each image spends.

Rule: a registry with a quota (Docker Hub) counts each manifest GET as a pull, never a HEAD, and
tells what is left on its manifest answers (`ratelimit-limit: 100;w=21600`,
`ratelimit-remaining: 76;w=21600`, `docker-ratelimit-source`); a registry that sends no such
header has no quota we know of, and nothing is held back there. A registry's `Ledger` keeps the
`remaining` it was last told, counted down by each GET as it is sent, less the pulls that copies
in flight have reserved: what is left for a new copy. A copy reserves what it will read before
its first GET (`Reservation.need`), each of its GETs takes one of them (a GET beyond them takes
one more only while one is left), and what it did not use goes back when it ends
(`Meter.release`). A copy that holds nothing yet waits while only other copies' reservations
stand in its way (they are spent or given back within a few requests), and is refused
(QuotaShort) when the registry's own count is too low; a copy that holds some never waits for
more (two such copies could wait on each other): it gets them or is refused. A 429 exhausts the
ledger until the time it names (`Retry-After`), else until its pulls come back: nothing more is
read there in this process meanwhile. Pulls come back over the window, so a copy short of N
pulls waits the share of the window N pulls are of the limit (at least a minute, at most the
window), or an hour when the registry told neither.

Each image's pulls are counted by the `Meter` it syncs under (a context variable, so that the
registry client's GET finds it without every layer passing it on); a worker thread that works
for an image runs under its meter through `MeteredExecutor` or `carried`. Manifest GETs the
client makes are counted where it makes them; a read made outside the client (skopeo reading a
source) is counted with `charge`, once, by whoever starts it.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from bot import timestamps
from bot.errors import ErrorKind, TransferError
from bot.messages import message

P = ParamSpec("P")
T = TypeVar("T")
QUOTA_VALUE_RE = re.compile(r"^\s*(\d{1,9})\s*(?:;\s*w\s*=\s*(\d{1,9}))?\s*$")
UNKNOWN_WAIT = timedelta(hours=1)  # a 429 that names no time, from a registry that told no window
SHORTEST_WAIT = timedelta(minutes=1)
RECOUNT = timedelta(minutes=1)  # how long a lower count of pulls left stands (see Ledger.observe)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Told:
    """What a registry's quota headers said."""

    limit: int | None
    remaining: int
    window: int | None  # seconds
    source: str  # docker-ratelimit-source: the address or account the quota is counted for

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Told | None:
        """The quota in `headers`, None when they carry none (or one that does not parse)."""
        remaining = _quota_value(headers.get("ratelimit-remaining"))
        if remaining is None:
            return None
        limit = _quota_value(headers.get("ratelimit-limit"))
        window = remaining[1] or (limit[1] if limit else None)
        source = str(headers.get("docker-ratelimit-source") or "")[:100]
        return cls(limit[0] if limit else None, remaining[0], window, source)


def _quota_value(text: object) -> tuple[int, int | None] | None:
    match = QUOTA_VALUE_RE.match(str(text)) if text is not None else None
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


class QuotaRefusal(TransferError):
    """A source's pull quota stops a copy: the image is deferred, and not asked for again in
    this run. `retry_after`: seconds until the registry is asked again."""


class TooManyRequests(QuotaRefusal):
    """The source answered 429 (TOOMANYREQUESTS)."""

    def __init__(self, said: str, retry_after: float | None = None) -> None:
        super().__init__(ErrorKind.RATE_LIMITED, said, retry_after=retry_after)


class QuotaShort(QuotaRefusal):
    """Fewer pulls are left at a registry than a copy needs: it is deferred, not started."""

    def __init__(self, host: str, left: int, needed: int, retry_after: float,
                 told: Told | None) -> None:
        if told is not None and told.limit is not None and told.window:
            said = message("%(registry)s's pull quota has %(left)s pulls left of %(limit)s per "
                           "%(window)s, fewer than the %(needed)s this image needs", registry=host,
                           left=left, limit=told.limit, window=window_text(told.window), needed=needed)
        else:
            said = message("%(registry)s refused pulls for now (too many requests); this image "
                           "needs %(needed)s", registry=host, needed=needed)
        super().__init__(ErrorKind.RATE_LIMITED, said, retry_after=retry_after)
        self.left, self.needed = left, needed


def window_text(seconds: int) -> str:
    """A quota window as people read it: `6 h`, `90 min`, `45 s`."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


class Ledger:
    """One registry's quota as this process knows it; thread-safe."""

    def __init__(self, host: str, clock: Clock = timestamps.now) -> None:
        self.host = host
        self.clock = clock
        self.told: Told | None = None
        self.spent = 0  # manifest GETs this process sent there
        self._reserved = 0  # held by copies in flight, not spent yet
        self._resume_at: datetime | None = None  # after a 429
        self._told_at: datetime | None = None  # when `told` last took a count as it came
        self._lock = threading.Condition()  # notified whenever pulls may have come free

    # -- what the registry says ---------------------------------------------------------------

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take in what an answer's quota headers say (nothing, when they say nothing).

        Answers to requests sent together arrive in any order, and our own GETs are counted
        down as they are sent: within RECOUNT of the last count taken as it came, the lower of
        the two counts stands (a late answer cannot give back pulls already spent); after it,
        the registry's count is taken as it comes (pulls come back as the window moves)."""
        told = Told.from_headers(headers)
        if told is None:
            return
        now = self.clock()
        with self._lock:
            if self.told is None or self._told_at is None or now - self._told_at >= RECOUNT:
                self._told_at = now
            elif self.told.remaining < told.remaining:
                told = replace(told, remaining=self.told.remaining)
            self.told = told  # a 429's time stands whatever the count says meanwhile
            self._lock.notify_all()

    def exhausted(self, retry_after: float | None = None) -> float:
        """The registry answered 429: nothing is read there until the time it names, else until
        a pull comes back. Returns the seconds until then."""
        now = self.clock()
        with self._lock:
            wait = (timedelta(seconds=retry_after) if retry_after is not None
                    else self._wait(1))
            until = now + max(wait, timedelta(0))
            if self._resume_at is None or until > self._resume_at:
                self._resume_at = until
            self._lock.notify_all()  # copies waiting for pulls are refused now
            return (self._resume_at - now).total_seconds()

    # -- what is left ---------------------------------------------------------------------------

    @property
    def known(self) -> bool:
        """Whether this registry has a quota we know of (it told one, or answered 429)."""
        with self._lock:
            return self.told is not None or self._resume_at is not None

    def left(self) -> int | None:
        """Pulls a new copy may still reserve; None when the registry has no quota we know of."""
        with self._lock:
            return self._left()

    def _left(self) -> int | None:
        if self._resume_at is not None:
            if self.clock() < self._resume_at:
                return 0
            self._resume_at = None
        if self.told is None:
            return None
        return max(0, self.told.remaining - self._reserved)

    def _unreserved(self) -> int | None:
        """What would be left if every copy in flight gave back what it holds."""
        left = self._left()
        if left is None or self._resume_at is not None or self.told is None:
            return left  # unknown, or nothing until a 429's time
        return self.told.remaining

    def _wait(self, needed: int) -> timedelta:
        """How long until `needed` pulls come back: their share of the window, if told."""
        told = self.told
        if told is None or not told.window:
            return UNKNOWN_WAIT
        window = timedelta(seconds=told.window)
        if not told.limit:
            return window
        return min(window, max(SHORTEST_WAIT, window * needed / told.limit))

    def wait_for(self, needed: int) -> float:
        """Seconds until `needed` pulls may be read here: until a 429's time, else their share
        of the window."""
        with self._lock:
            now = self.clock()
            if self._resume_at is not None and now < self._resume_at:
                return (self._resume_at - now).total_seconds()
            return self._wait(needed).total_seconds()

    def _short(self, left: int, needed: int) -> QuotaShort:
        now = self.clock()
        if self._resume_at is not None and now < self._resume_at:
            wait = self._resume_at - now
        else:
            wait = self._wait(needed)
        return QuotaShort(self.host, left, needed, wait.total_seconds(), self.told)

    # -- reserving and spending ---------------------------------------------------------------

    def _hold(self, count: int, *, wait: bool) -> None:
        """Reserve `count` more pulls; `wait`: while other copies' reservations are all that
        stands in the way. QuotaShort when they are not left."""
        with self._lock:
            while True:
                left = self._left()
                if left is None or left >= count:
                    self._reserved += count
                    return
                unreserved = self._unreserved()
                if not wait or unreserved is None or unreserved < count:
                    raise self._short(left, count)
                # Reservations are spent or given back within a few requests; the timeout only
                # re-checks a window that may have passed meanwhile.
                self._lock.wait(timeout=5.0)

    def _unhold(self, count: int) -> None:
        with self._lock:
            self._reserved -= count
            self._lock.notify_all()

    def _send(self, reserved: bool) -> None:
        """A GET is about to go out, on one reserved pull (else on one still left)."""
        with self._lock:
            if reserved:
                self._reserved -= 1
            else:
                left = self._left()
                if left is not None and left < 1:
                    raise self._short(left, 1)
            self._spend(1)

    def _charge(self, count: int) -> None:
        """`count` GETs already made by someone else (skopeo): spent, whatever is left."""
        with self._lock:
            self._spend(count)

    def _spend(self, count: int) -> None:
        """Counted down as sent: the registry's next count includes them (see `observe`)."""
        self.spent += count
        if self.told is not None:
            self.told = replace(self.told, remaining=max(0, self.told.remaining - count))

    @contextlib.contextmanager
    def pull(self) -> Iterator[None]:
        """Around one manifest GET: taken from the current image's reservation (else from what
        is left: QuotaShort when nothing is), counted for that image."""
        meter = _current.get()
        if meter is not None:
            meter.at(self).take()
        else:
            self._send(reserved=False)
        yield


class Quotas:
    """Every registry's ledger in this process, by host (one each, made when first asked)."""

    def __init__(self, clock: Clock = timestamps.now) -> None:
        self.clock = clock
        self._ledgers: dict[str, Ledger] = {}
        self._lock = threading.Lock()

    def ledger(self, host: str) -> Ledger:
        with self._lock:
            ledger = self._ledgers.get(host)
            if ledger is None:
                # The clock is read when asked, so a test may set it after a ledger is made.
                ledger = self._ledgers[host] = Ledger(host, lambda: self.clock())  # noqa: PLW0108
            return ledger


@dataclass
class Reservation:
    """One image's pulls at one registry: held for it, and spent by it."""

    ledger: Ledger
    held: int = 0
    spent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def need(self, count: int) -> None:
        """Hold exactly `count` pulls for what this image has left to read: more from the ledger
        (QuotaShort, holding what it held, when that many are not left), or the surplus back."""
        with self._lock:
            if count > self.held:
                self.ledger._hold(count - self.held, wait=self.held == 0)
            elif count < self.held:
                self.ledger._unhold(self.held - count)
            self.held = count

    def take(self) -> None:
        """One GET: from what is held, else one more if any is left (QuotaShort if not)."""
        with self._lock:
            reserved = self.held > 0
            self.ledger._send(reserved)
            if reserved:
                self.held -= 1
            self.spent += 1

    def charge(self, count: int) -> None:
        with self._lock:
            used = min(count, self.held)
            self.held -= used
            self.ledger._unhold(used)
            self.ledger._charge(count)
            self.spent += count

    def release(self) -> None:
        with self._lock:
            self.ledger._unhold(self.held)
            self.held = 0


@dataclass
class Meter:
    """One image's pulls, at each registry it reads, and the manifests it has read."""

    reservations: dict[str, Reservation] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)  # digests this image already read
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def at(self, ledger: Ledger) -> Reservation:
        with self._lock:
            reservation = self.reservations.get(ledger.host)
            if reservation is None or reservation.ledger is not ledger:
                reservation = self.reservations[ledger.host] = Reservation(ledger)
            return reservation

    @property
    def pulls(self) -> int:
        """Manifest GETs this image spent, at every registry."""
        with self._lock:
            return sum(r.spent for r in self.reservations.values())

    def release(self) -> None:
        """What the image held and did not spend goes back to each ledger."""
        with self._lock:
            reservations = list(self.reservations.values())
        for reservation in reservations:
            reservation.release()


_current: ContextVar[Meter | None] = ContextVar("mirror_bot_meter", default=None)


def current() -> Meter | None:
    """The meter of the image being synced on this thread, if any."""
    return _current.get()


@contextlib.contextmanager
def metering(meter: Meter | None) -> Iterator[Meter | None]:
    """Pulls made within are `meter`'s (None: nobody's)."""
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def carried(action: Callable[P, T]) -> Callable[P, T]:
    """`action`, run under the meter current where `carried` is called (for another thread)."""
    meter = _current.get()

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with metering(meter):
            return action(*args, **kwargs)

    return run


def charge(ledger: Ledger, count: int = 1) -> None:
    """`count` manifest GETs made outside the registry client (skopeo reading a source): the
    current image's, and the ledger's. Count each read once: GETs the client makes are counted
    by the client, and a manifest skopeo reads from the mirror or a local layout is no pull."""
    meter = _current.get()
    if meter is not None:
        meter.at(ledger).charge(count)
    else:
        ledger._charge(count)


class MeteredExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run under the meter of whoever submitted them (`map` too)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(carried(fn), *args, **kwargs)
