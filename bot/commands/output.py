"""Where a command's output leaves the process: standard output and error, and the JSON it
prints or writes.

Rule: every command runs `redacting`: both streams pass the run's secret set
(`Loaded.secret_set`, bot/redaction.py) for as long as it runs, so every line anything prints
— the flows, the forge's echo, the doctor's checks — is redacted on its way out. JSON is
redacted before it is encoded (`json_text`), while each secret is still spelled as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO, cast

from bot.config import Loaded
from bot.redaction import RedactedStream, Secrets

Handler = Callable[[argparse.Namespace, Loaded], int]


def redacting(handler: Handler) -> Handler:
    """`handler` with standard output and error redacted by the run's secret set while it runs."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace, loaded: Loaded) -> int:
        secrets = loaded.secret_set
        out = cast(TextIO, RedactedStream(sys.stdout, secrets))
        err = cast(TextIO, RedactedStream(sys.stderr, secrets))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return handler(args, loaded)

    return run


def json_text(data: Any, secrets: Secrets) -> str:
    """`data` as the JSON a command prints or writes, redacted before it is encoded."""
    return json.dumps(secrets.redact_data(data), indent=2)
