"""Secrets out of text meant for people: logs, comments, summaries, reports.

Rule: every message that came from skopeo, a registry or GitHub passes through `redact` before
it is shown; known secrets, URL user-info and Authorization header values become `***`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

USERINFO_RE = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")
TOKEN_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove known secrets, URL user-info and auth headers from text meant for people."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = USERINFO_RE.sub("***@", text)
    return TOKEN_RE.sub(r"\1 ***", text)
