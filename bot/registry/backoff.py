"""How long to wait before trying again: the one backoff of the registry transport, the blob
reader and the sync engine's skopeo retries.

Rule: `attempts` tries in all (the first included); after failed try n the wait is
`base_delay` x 2^(n-1), capped at `max_delay`, less a random part of up to `jitter` of it (so
threads failing together do not retry together); a registry's `Retry-After` replaces the
computed wait, capped at `max_delay` too. Which failures are worth another try is the caller's
to say; a wait of 0 is no wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.errors import TransferError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    attempts: int = 3
    base_delay: float = 2.0  # seconds, after the first failed try
    max_delay: float = 60.0
    jitter: float = 0.5  # the most of a wait taken off at random

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try `attempt` (1 for the first)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        wait = min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0))
        return wait * (1 - self.jitter * random.random())  # noqa: S311 - jitter, not a secret

    def again(self, attempt: int) -> bool:
        """Whether another try follows failed try `attempt`."""
        return attempt < self.attempts

    def run(self, action: Callable[[], T], worth_retrying: Callable[[TransferError], bool],
            sleep: Callable[[float], None] = time.sleep) -> T:
        """`action`'s result, tried again after each TransferError `worth_retrying` accepts
        while tries are left, waiting `delay` between tries."""
        attempt = 1
        while True:
            try:
                return action()
            except TransferError as error:
                if not worth_retrying(error) or not self.again(attempt):
                    raise
                wait = self.delay(attempt, error.retry_after)
                if wait > 0:
                    sleep(wait)
                attempt += 1
