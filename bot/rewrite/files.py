"""Reading and replacing the files a rewrite touches.

Rule: text is read and written as UTF-8 bytes, untouched (line endings, a byte-order mark and
a missing final newline stay). A file is replaced atomically: a temporary file in the same
directory, with the original's permission bits, renamed over it (the target of a symbolic link
is replaced, the link stays).
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


def read_input(name: str, stdin: BinaryIO | None) -> str:
    """The text of file `name`, or of `stdin` for `-`."""
    try:
        if name == STDIN:
            if stdin is None:
                raise RewriteError("'-' given but there is no standard input to read")
            data = stdin.read()
        else:
            data = Path(name).read_bytes()
    except OSError as error:
        raise RewriteError(f"{name}: cannot read: {error.strerror or error}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RewriteError(f"{name}: not UTF-8 text (byte {error.start}); convert it to UTF-8 "
                           "first") from error


def write_atomic(path: Path, text: str) -> None:
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                             suffix=".rewrite")
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
        raise RewriteError(f"{path}: cannot write: {error.strerror or error}") from error
