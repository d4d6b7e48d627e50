"""Progress lines for long blob copies: bytes, rate and time left, on stderr and in job logs.

Rule: one line per large blob when its copy starts, then one every `interval` seconds while
it moves, and one when it is done; never a carriage-return animation (job logs keep lines).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from bot.oci import human_size

DEFAULT_INTERVAL = 10.0


class Progress(Protocol):
    """What the transport reports (bot.blobs.BlobProgress)."""

    digest: str
    total: int
    done: int
    elapsed: float

    @property
    def rate(self) -> float: ...
    @property
    def seconds_left(self) -> float | None: ...


@dataclass
class ProgressLines:
    """A progress sink for one blob copy: call it with each progress report."""

    stream: TextIO
    label: str  # e.g. `mirror/docker.io/library/x sha256:0123456789ab`
    interval: float = DEFAULT_INTERVAL
    clock: Callable[[], float] = time.monotonic
    _next: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, progress: Progress) -> None:
        now = self.clock()
        done = progress.done >= progress.total
        with self._lock:
            if not done and self._next is not None and now < self._next:
                return
            self._next = now + self.interval
        print(self.line(progress), file=self.stream, flush=True)

    def line(self, progress: Progress) -> str:
        if progress.done >= progress.total:
            return (f"{self.label}: {human_size(progress.total)} copied in "
                    f"{progress.elapsed:.1f}s ({human_size(progress.rate)}/s)")
        left = progress.seconds_left
        return (f"{self.label}: {human_size(progress.done)} of {human_size(progress.total)}, "
                f"{human_size(progress.rate)}/s, "
                + (f"{left:.0f}s left" if left is not None else "starting"))
