"""The JSON a command prints or writes.

Rule: JSON is redacted before it is encoded (`json_text`), while each secret is still spelled as
it is; the streams it is printed on are redacted as well, by bot/cli.py for the whole command.
"""

from __future__ import annotations

import json
from typing import Any

from bot.redaction import Secrets


def json_text(data: Any, secrets: Secrets) -> str:
    """`data` as the JSON a command prints or writes, redacted before it is encoded."""
    return json.dumps(secrets.redact_data(data), indent=2)
