"""Why a registry operation failed: one table from an HTTP status, a registry's error code and
skopeo's stderr to the ErrorKind, for the transport, the token service and skopeo alike.

Rule: a row gives, for one kind, the statuses, the distribution error codes (`errors[].code`)
and the stderr phrases of containers/image that mean it. An answer is classified by its status;
its error code decides only when the status is in no row (so a 404 is `not_found` whatever its
code says). Stderr is read lower-cased, with the names of images and blobs blanked first (their
digits are never a status), and the first row whose phrase it holds decides; skopeo writes a
registry's error code in words before a colon (`manifest unknown:`, `denied:`), and that counts
as the code. A refusal (401 or 403, or what skopeo says of one: its stderr does not always tell
them apart) is `unauthorized` when a source refuses us, the requester's to act on, and
`mirror_unauthorized` when the mirror does, the maintainers' to fix. skopeo's side is the side
its innermost phrase names (reading the source, or writing the destination, which is always a
mirror); a mirror that answers "not found" while we write to it has not lost the user's image:
that is `unknown`. Every TransferError this package raises is made by `failure`, with its
message redacted by the run's secret set as it is made (bot/redaction.py), so no registry that
echoes what it was sent can put a login or a token into a comment, a report or a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import ErrorKind, TransferError
from bot.image.grammar import HEX, SHA256
from bot.redaction import Secrets

# Status codes count only beside a word that says they are one: digests, tags and byte counts
# are full of digits (a blob `sha256:…401…`, a tag `v1.401`).
STATUS = r"(?:status|code|http|error)\D{0,12}"


@dataclass(frozen=True)
class Row:
    kind: ErrorKind
    statuses: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    stderr: str = ""  # phrases (a regular expression) besides the codes in words

    @property
    def stderr_pattern(self) -> re.Pattern[str] | None:
        phrases = [rf"\b{re.escape(code.lower().replace('_', ' '))}:" for code in sorted(self.codes)]
        phrases += [self.stderr] if self.stderr else []
        return re.compile("|".join(phrases)) if phrases else None


TABLE = (
    Row(ErrorKind.NOT_FOUND, frozenset({404}),
        frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"}),
        rf"manifest unknown|name unknown|blob unknown|no such manifest|\bnot found\b|{STATUS}404\b"),
    Row(ErrorKind.RATE_LIMITED, frozenset({429}), frozenset({"TOOMANYREQUESTS"}),
        rf"toomanyrequests|too many requests|{STATUS}429\b"),
    Row(ErrorKind.UNAUTHORIZED, frozenset({401, 403}), frozenset({"UNAUTHORIZED", "DENIED"}),
        r"unauthorized|authentication required|requested access to the resource is denied|"
        rf"\bforbidden\b|{STATUS}40[13]\b"),
    Row(ErrorKind.TIMEOUT, stderr=r"i/o timeout|timeout|deadline exceeded"),
    Row(ErrorKind.NETWORK, stderr=r"connection refused|connection reset|no such host|network is "
                                  r"unreachable|x509:|\beof\b|broken pipe|tls:"),
    Row(ErrorKind.SERVER_ERROR, frozenset(range(500, 600)), frozenset({"UNAVAILABLE"}),
        rf"internal server error|bad gateway|service unavailable|gateway time-?out|"
        rf"{STATUS}50[0-4]\b|\b50[0-4] \w"),
)
_BY_STATUS = {status: row.kind for row in TABLE for status in row.statuses}
_BY_CODE = {code: row.kind for row in TABLE for code in row.codes}
_BY_STDERR = tuple((row.kind, pattern) for row in TABLE
                   if (pattern := row.stderr_pattern) is not None)
# What names images and blobs in skopeo's stderr: never read as a status.
NAMES_RE = re.compile(rf"{SHA256}:{HEX}+|docker://\S+|\b[\w.-]+(?:/[\w.-]+)+(?::[\w.-]+)?")
# Where containers/image says which side it was working on; the innermost (last) phrase wins.
SOURCE_PHRASES = ("initializing source", "reading manifest", "reading blob", "fetching blob",
                  "happened during read")
DESTINATION_PHRASES = ("initializing destination", "at destination", "exists in",
                       "writing blob", "writing manifest", "uploading manifest",
                       "initiating layer upload", "uploading layer", "writing signature")


def failure(secrets: Secrets, kind: ErrorKind, message: str, *,
            retry_after: float | None = None) -> TransferError:
    """A TransferError whose message is already redacted (anything a registry sent in it
    included): the one way this package makes one."""
    return TransferError(kind, secrets.redact(message), retry_after=retry_after)


def refusal(at_mirror: bool) -> ErrorKind:
    """Who must act when a registry refuses us: the maintainers (mirror) or the requester."""
    return ErrorKind.MIRROR_UNAUTHORIZED if at_mirror else ErrorKind.UNAUTHORIZED


def from_status(status: int, codes: Iterable[str] = (), *, at_mirror: bool) -> ErrorKind:
    """The kind of an unwanted HTTP answer (`codes`: its body's `errors[].code`)."""
    kind = _BY_STATUS.get(status) or next(
        (_BY_CODE[code] for code in codes if code in _BY_CODE), ErrorKind.UNKNOWN)
    return refusal(at_mirror) if kind is ErrorKind.UNAUTHORIZED else kind


def from_stderr(stderr: str) -> ErrorKind:
    """The kind of a failed skopeo call, from its stderr, by the side that failed."""
    lowered = stderr.lower()
    words = NAMES_RE.sub(" ", lowered)
    kind = next((kind for kind, pattern in _BY_STDERR if pattern.search(words)), ErrorKind.UNKNOWN)
    writing = _at_destination(lowered)
    if kind is ErrorKind.UNAUTHORIZED:
        return refusal(writing)
    if kind is ErrorKind.NOT_FOUND and writing:
        return ErrorKind.UNKNOWN
    return kind


def _at_destination(lowered: str) -> bool:
    last_source = max((lowered.rfind(p) for p in SOURCE_PHRASES), default=-1)
    last_destination = max((lowered.rfind(p) for p in DESTINATION_PHRASES), default=-1)
    return last_destination > last_source
