"""`mirror-bot rewrite`: image references in files become their mirrored addresses, in place.

Rule: every file is checked to lie inside the working directory, then read and scanned, and
every distinct reference decided, before anything is written, so a file outside the tree, an
unreadable file, invalid or too deeply nested YAML or a mirror that cannot tell changes no file
(exit 2). A reference is rewritten when the allowlist allows it and, by default, its mirrored
address exists (one manifest HEAD per distinct address); with `--all`, whenever the allowlist
allows it (no request at all). A look-up the mirror refuses (401/403, as GHCR answers for a
package that does not exist) means "not mirrored" when the mirror answered another look-up, and
"cannot tell" when it refused them all. Addresses already under the mirror are left alone, so
a second run changes nothing. Every reference that stays upstream is named on stderr, one line
each, `FILE:LINE: reference — why`, in the order of the files. `--check` exits 1 when a file
would change or a reference not marked `# mirror-bot: ignore` would stay upstream; `--diff`
prints the change. Without `--check` the exit code is 0 whatever stays upstream.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import BinaryIO, TextIO

from bot.config import Config
from bot.errors import ErrorKind, MirrorBotError, TransferError
from bot.image import reference
from bot.image.reference import Reference
from bot.rewrite.files import STDIN, inside, read_input, write_atomic
from bot.rewrite.formats import Format, detect
from bot.rewrite.model import IGNORE_MARK, Found, RewriteError, Scan, splice

Checker = Callable[[Reference], str | None]  # the mirror's digest for an address, None if absent
CHECK_JOBS = 4  # measured: 30 look-ups at 20 ms each, 1.5 s on one thread, 0.5 s on four
SHOWN_CHARACTERS = 200  # of a reference quoted from a file, so each message stays one line


class Mode(StrEnum):
    WRITE = "write"
    CHECK = "check"
    DIFF = "diff"


class Lookup(Enum):
    """What the mirror said about one address."""

    PRESENT = "present"
    ABSENT = "absent"
    REFUSED = "refused"  # 401/403: GHCR refuses anonymous look-ups of packages that do not exist


REFUSALS = frozenset({ErrorKind.UNAUTHORIZED, ErrorKind.MIRROR_UNAUTHORIZED})
REFUSED_NOTE = "the mirror refused the look-up: not mirrored, or not visible with these credentials"


class Status(StrEnum):
    REWRITE = "rewrite"
    UNDER_MIRROR = "under_mirror"
    NOT_MIRRORED = "not_mirrored"
    DENIED = "denied"
    INVALID = "invalid"


@dataclass(frozen=True)
class Decision:
    status: Status
    source: Reference | None = None
    target: Reference | None = None
    reason: str = ""


@dataclass(frozen=True)
class Streams:
    """Standard input and output (bytes, for `-` and diffs) and the messages' stream."""

    stdin: BinaryIO | None = None
    stdout: BinaryIO | None = None
    stderr: TextIO | None = None

    def say(self, line: str) -> None:
        if self.stderr is not None:
            print(line, file=self.stderr)

    def write(self, text: str) -> None:
        if self.stdout is not None:
            self.stdout.write(text.encode("utf-8"))


@dataclass(frozen=True)
class Document:
    name: str  # as given: a path, or `-` for standard input
    path: Path | None  # the real path, inside the working directory; None for standard input
    text: str
    format: Format
    scan: Scan

    @property
    def candidates(self) -> list[Found]:
        """The references to decide: all but those marked `# mirror-bot: ignore`."""
        return [found for found in self.scan.found if not found.marked]

    def changes(self, decisions: dict[str, Decision]) -> dict[Found, Reference]:
        """The references to rewrite, with their mirrored addresses."""
        return {found: decision.target for found in self.candidates
                if (decision := decisions[found.text]).status is Status.REWRITE and decision.target}

    def rewritten(self, decisions: dict[str, Decision]) -> tuple[str, int]:
        """The new text and how many references changed in it."""
        changes = self.changes(decisions)
        replacements = [(span, span.role.render(target, found.text))
                        for found, target in changes.items() for span in found.spans]
        return splice(self.text, replacements), len(changes)


def load_document(name: str, text: str, format: Format | None, path: Path | None = None) -> Document:
    chosen = format or detect(name, text)
    return Document(name, path, text, chosen, chosen.scan(text, name))


def decide(texts: Iterable[str], config: Config, checker: Checker | None) -> dict[str, Decision]:
    """One decision per distinct reference text; `checker` None means `--all` (no look-ups)."""
    decisions = {text: _decide_offline(text, config) for text in dict.fromkeys(texts)}
    if checker is None:
        return decisions
    targets = list(dict.fromkeys(d.target for d in decisions.values()
                                 if d.status is Status.REWRITE and d.target))
    found = dict(zip(targets, _look_up(targets, checker), strict=True))
    answered = [lookup for lookup in found.values() if lookup is not Lookup.REFUSED]
    if found and not answered:
        raise RewriteError(f"cannot tell whether any image is mirrored: {config.mirror} refused "
                           f"all {len(found)} look-up(s) (they are not mirrored, or the mirror needs "
                           "MIRROR_USERNAME and MIRROR_PASSWORD); nothing was changed")
    return {text: _settle(decision, found) for text, decision in decisions.items()}


def _settle(decision: Decision, found: dict[Reference, Lookup]) -> Decision:
    lookup = found.get(decision.target) if decision.target else None
    if lookup in {None, Lookup.PRESENT}:
        return decision
    note = REFUSED_NOTE if lookup is Lookup.REFUSED else ""
    return Decision(Status.NOT_MIRRORED, decision.source, decision.target, note)


def _decide_offline(text: str, config: Config) -> Decision:
    try:
        source = reference.parse(text)
    except MirrorBotError as error:
        return Decision(Status.INVALID, reason=str(error))
    if source.name.lower().startswith(config.mirror.lower() + "/"):
        return Decision(Status.UNDER_MIRROR, source)
    verdict = config.allowlist.decide(source)
    if not verdict.allowed:
        return Decision(Status.DENIED, source, reason=str(verdict.reason))
    try:
        return Decision(Status.REWRITE, source, config.namer.target(source))
    except MirrorBotError as error:
        return Decision(Status.INVALID, source, reason=str(error))


def _look_up(targets: list[Reference], checker: Checker) -> list[Lookup]:
    def look_up(target: Reference) -> Lookup:
        try:
            return Lookup.PRESENT if checker(target) is not None else Lookup.ABSENT
        except TransferError as error:
            if error.kind in REFUSALS:
                return Lookup.REFUSED
            raise RewriteError(f"cannot tell whether {target} is mirrored ({error.kind}: {error}); "
                               "nothing was changed; check MIRROR_REGISTRY, then run rewrite "
                               "again") from error

    if len(targets) <= 1:
        return [look_up(target) for target in targets]
    with ThreadPoolExecutor(max_workers=min(CHECK_JOBS, len(targets))) as pool:
        return list(pool.map(look_up, targets))


def verify(document: Document, new_text: str, decisions: dict[str, Decision]) -> None:
    """The new text must name the same images in the same places, the rewritten ones mirrored."""
    if new_text == document.text:
        return
    after = document.format.scan(new_text, document.name)
    changes = document.changes(decisions)
    expected = [changes.get(found, found.text) for found in document.scan.found]
    actual = [found.text for found in after.found]
    same = len(expected) == len(actual) and all(
        want == got if isinstance(want, str) else _parses_to(got, want)
        for want, got in zip(expected, actual, strict=True))
    if not same or len(after.left) != len(document.scan.left):
        raise RewriteError(f"{document.name}: the rewritten text would not read back as intended "
                           "(a mirror-bot bug: please report it with this file); nothing was changed")


def _parses_to(text: str, target: Reference) -> bool:
    try:
        return reference.parse(text) == target
    except MirrorBotError:
        return False


def rewrite_files(names: Sequence[str], *, mode: Mode, config: Config, checker: Checker | None,
                  root: Path, format: Format | None = None, streams: Streams | None = None) -> int:
    """Rewrite (or check, or diff) `names`, files inside `root` (the working directory); `-`
    reads standard input and writes standard output. Returns the exit code; raises RewriteError
    (exit 2) before anything is written."""
    streams = streams or Streams()
    if STDIN in names and len(names) > 1:
        raise RewriteError("'-' (standard input) cannot be combined with files; give one or the other")
    paths = {name: None if name == STDIN else inside(name, root) for name in names}
    documents = [load_document(name, read_input(name, path, streams.stdin), format, path)
                 for name, path in paths.items()]
    decisions = decide([f.text for d in documents for f in d.candidates], config, checker)
    results = []
    for document in documents:
        new_text, count = document.rewritten(decisions)
        verify(document, new_text, decisions)
        results.append((document, new_text, count))
    upstream = sum(report_upstream(document, decisions, config, streams) for document in documents)
    for document, new_text, count in results:
        _emit(document, new_text, count, mode, streams)
    changed = sum(1 for _, _, count in results if count)
    if mode is not Mode.CHECK or not (changed or upstream):
        return 0
    if changed:
        streams.say(f"{changed} file(s) would change; run mirror-bot rewrite without --check "
                    "to rewrite them")
    if upstream:
        streams.say(f"{upstream} reference(s) would stay upstream (named above): request or allow "
                    f"them, or mark each {IGNORE_MARK}")
    return 1


def _emit(document: Document, new_text: str, count: int, mode: Mode, streams: Streams) -> None:
    plural = "reference" if count == 1 else "references"
    if mode is Mode.DIFF:
        if count:
            streams.write(unified_diff(document.name, document.text, new_text))
    elif mode is Mode.CHECK:
        if count:
            streams.say(f"would rewrite {document.name}: {count} {plural}")
    elif document.path is None:
        streams.write(new_text)
    elif count:
        write_atomic(document.name, document.path, new_text)
        streams.say(f"rewrote {document.name}: {count} {plural}")


def unified_diff(name: str, old: str, new: str) -> str:
    """git's form (`a/NAME`, `b/NAME`) for relative names, so `git apply` takes it."""
    before, after = (name, name) if os.path.isabs(name) else (f"a/{name}", f"b/{name}")
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 before, after)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def report_upstream(document: Document, decisions: dict[str, Decision], config: Config,
                    streams: Streams) -> int:
    """Name every reference of `document` that stays upstream, `FILE:LINE: reference — why`, in
    the file's order; return how many count against `--check` (those not marked)."""
    places: list[tuple[int, str, str, bool]] = []  # line, reference, why, counts
    for left in document.scan.left:
        why = f"{left.reason} (marked {IGNORE_MARK})" if left.marked else left.reason
        places.append((left.line, left.text, why, not left.marked))
    for found in document.scan.found:
        if found.marked:
            places.append((found.line, found.text, f"marked {IGNORE_MARK}", False))
        elif (reason := _why_upstream(decisions[found.text], config)) is not None:
            places.append((found.line, found.text, reason, True))
    places.sort(key=lambda place: place[0])
    for line, text, why, _ in places:
        streams.say(f"{document.name}:{line}: {shown(text)} — {why}")
    return sum(1 for *_, counts in places if counts)


def _why_upstream(decision: Decision, config: Config) -> str | None:
    """Why a decided reference stays upstream; None when it is rewritten or already mirrored."""
    if decision.status is Status.NOT_MIRRORED:
        note = f" ({decision.reason})" if decision.reason else ""
        return f"not mirrored{note}; request it by opening an issue titled {decision.source}"
    if decision.status is Status.DENIED:
        return (f"not allowed: {decision.reason}; to have it mirrored, propose it in a pull "
                f"request to {config.files.allowlist.name}")
    if decision.status is Status.INVALID:
        return f"not a valid image reference: {shown(decision.reason)}"
    return None


def shown(text: str) -> str:
    """Text quoted from a file, safe on one terminal line: control characters escaped, cut."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return safe if len(safe) <= SHOWN_CHARACTERS else safe[:SHOWN_CHARACTERS] + "…"
