"""The temporary authfile that hands credentials to skopeo, and its lifetime.

Rule: credentials reach skopeo only through a file (0600) in a private directory (0700) made
for this process, and that directory cannot outlive the run: it is removed on close, at exit,
on an exception, and on SIGTERM, SIGHUP and SIGINT (whose handler stops the registered work
first, then lets the signal do what it would have done). SIGKILL cannot be caught, so every
run first removes the directories of runs that are gone; a directory's name carries its
process's pid and start time, so a live run's directory is never removed, even when its pid
is reused later.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

PREFIX = "mirror-bot-auth-"
NAME_RE = re.compile(rf"{PREFIX}(\d+)-(\d+)-")
# SIGINT too: the handler before ours (KeyboardInterrupt) still runs, after the clean-up.
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

_live: set[Path] = set()
_on_terminate: list[Callable[[], None]] = []
_previous: dict[int, object] = {}
_lock = threading.Lock()


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "0" where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return fields[19]
    except (OSError, IndexError):
        return "0"


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return started in {"0", _start_time(pid)}


def remove_stale(directory: Path | None = None) -> list[Path]:
    """Remove authfile directories (ours, by uid) whose process is gone; return them."""
    base = directory or Path(tempfile.gettempdir())
    removed = []
    for entry in base.glob(f"{PREFIX}*"):
        match = NAME_RE.match(entry.name)
        try:
            info = entry.lstat()
        except OSError:
            continue
        if (match is None or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
                or _alive(int(match.group(1)), match.group(2))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def on_terminate(callback: Callable[[], None]) -> None:
    """Run `callback` (e.g. stop child processes) when a terminating signal arrives."""
    with _lock:
        _on_terminate.append(callback)


def _terminate(signum: int, frame: FrameType | None) -> None:
    for callback in list(_on_terminate):
        with contextlib.suppress(Exception):
            callback()
    for path in list(_live):
        _remove(path)
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # end as the signal would have, exit status included


def _install_handlers() -> None:
    """Once, from the main thread (Python delivers signals there only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        for signum in TERMINATING_SIGNALS:
            current = signal.getsignal(signum)
            if signum in _previous or current is signal.SIG_IGN:
                continue
            _previous[signum] = current
            signal.signal(signum, _terminate)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    _live.discard(path)


class AuthDir:
    """This process's private directory for authfiles; create it from the main thread."""

    def __init__(self, directory: Path | None = None) -> None:
        remove_stale(directory)
        pid = os.getpid()
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-{_start_time(pid)}-",
                                          dir=directory))
        os.chmod(self.path, 0o700)
        _live.add(self.path)
        _install_handlers()
        self._finalizer = weakref.finalize(self, _remove, self.path)

    @contextlib.contextmanager
    def file(self, content: str) -> Iterator[Path]:
        """A 0600 file holding `content` for as long as the block runs."""
        fd, name = tempfile.mkstemp(dir=self.path, suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
            yield Path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def close(self) -> None:
        self._finalizer()
