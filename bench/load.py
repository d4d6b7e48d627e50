"""How busy the machine was while the bench ran, from the kernel's load average (Linux).

The bench shares its cores with whatever else runs; a figure measured on a loaded machine says
so beside it. `LoadSampler` reads /proc/loadavg's one-minute average every few seconds on a
thread (one small file read: nothing the measured tools would notice).
"""

from __future__ import annotations

import os
import statistics
import threading
from pathlib import Path
from types import TracebackType

INTERVAL = 5.0


def load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class LoadSampler:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            if (value := load_average()) is not None:
                self.samples.append(value)
            if self._stop.wait(INTERVAL):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        """e.g. 'load average 1.9 (median; 0.8-4.6) on 2 cores'."""
        cores = os.cpu_count()
        if not self.samples:
            return f"load average unknown, {cores} cores"
        return (f"load average {statistics.median(self.samples):.1f} (median of the one-minute "
                f"average; {min(self.samples):.1f}-{max(self.samples):.1f}) on {cores} cores")
