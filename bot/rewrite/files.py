"""Reading and replacing the files a rewrite touches.

Rule: only a file inside the working directory is read or written: a name that resolves
outside it (`../x.yaml`, an absolute path elsewhere, a symbolic link out of the tree) is refused
before any file is read. Text is read and written as UTF-8 bytes, untouched (line endings, a
byte-order mark and a missing final newline stay). A file is replaced atomically: a temporary
file in the same directory, with the original's permission bits, renamed over it (the target of
a symbolic link inside the tree is replaced, the link stays).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from bot.rewrite.model import RewriteError

STDIN = "-"


def inside(name: str, root: Path) -> Path:
    """The real path of file `name` (relative to `root`, the working directory), which must lie
    inside `root`."""
    path = Path(name)
    try:
        real = (path if path.is_absolute() else root / path).resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a loop of symbolic links
        raise RewriteError(f"{name}: cannot read: {error}") from error
    if not real.is_relative_to(root.resolve()):
        raise RewriteError(f"{name}: resolves outside the current directory (a symbolic link or "
                           "a path that leaves it); nothing was changed; run rewrite from a "
                           "directory that holds the file")
    return real


def read_input(name: str, path: Path | None, stdin: BinaryIO | None) -> str:
    """The text of file `name` at `path`, or of `stdin` for `-` (path None)."""
    try:
        if path is None:
            if stdin is None:
                raise RewriteError("'-' given but there is no standard input to read")
            data = stdin.read()
        else:
            data = path.read_bytes()
    except OSError as error:
        raise RewriteError(f"{name}: cannot read: {error.strerror or error}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RewriteError(f"{name}: not UTF-8 text (byte {error.start}); convert it to UTF-8 "
                           "first") from error


def write_atomic(name: str, target: Path, text: str) -> None:
    """Replace the file at `target` (a real path, from `inside`) with `text`."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                                 suffix=".rewrite")
    except OSError as error:
        raise RewriteError(f"{name}: cannot write: {error.strerror or error}") from error
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise RewriteError(f"{name}: cannot write: {error.strerror or error}") from error
