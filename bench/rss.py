"""Peak resident memory of processes, from /proc (Linux).

`python -m bench.rss OUTFILE MODULE ARG...` runs MODULE as __main__ in this very process (the
process a user runs, `python -m bot ...`, not a wrapper around it) and writes JSON to OUTFILE:
`self_kib`, its own peak (VmHWM, a high-water mark the kernel keeps, read once at the end).
Its children (skopeo) are sampled from outside, by the bench process (`PeakSampler` over
`children_of`), as skopeo run alone is: a sampling thread in the measured process would take
its interpreter's time from the copy being measured.

getrusage's ru_maxrss is not used: a child's value starts from its parent's resident size at
fork, so it would report the parent's memory, not the child's.
"""

from __future__ import annotations

import json
import runpy
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

# Often enough to see every skopeo (each lives for a few tenths of a second at the least, and
# VmHWM keeps its peak until it exits), seldom enough that sampling a copy's ~80 threads takes
# well under 1 % of a core from the copy being measured.
INTERVAL = 0.05


def peak_kib(pid: int | str = "self") -> int | None:
    """VmHWM of a live process, in KiB (None once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def children_of(parent: int) -> list[int]:
    """`parent`'s child processes, from the kernel's list of each of its threads (a child is
    listed under the thread that started it). Cheaper than reading every process's stat, which
    is what a sampler does to the machine whose time it measures."""
    found: list[int] = []
    try:
        threads = [entry.name for entry in Path(f"/proc/{parent}/task").iterdir()]
    except OSError:
        return found
    for thread in threads:
        try:
            found += map(int, Path(f"/proc/{parent}/task/{thread}/children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


class PeakSampler:
    """Polls the VmHWM of the processes `pids()` names, keeping the largest seen."""

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self.pids = pids
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids():
                value = peak_kib(pid)
                if value is not None and (self.peak is None or value > self.peak):
                    self.peak = value
            self._stop.wait(INTERVAL)


def main() -> None:
    out, module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    code: object = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
    Path(out).write_text(json.dumps({"self_kib": peak_kib()}))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
