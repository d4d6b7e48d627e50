"""Where the mirror already holds a blob: a small JSON file kept between runs.

Rule: a location (mirror registry, repository, blob digest) is recorded only after the image
that brought it was copied and its digest verified at the mirror, so a copy killed midway
records nothing. The file is a hint, never trusted: a mount from a recorded location either
succeeds (the registry checks the blob exists there, content-addressed) or the blob is fetched
as if nothing were known. Content is checked entry by entry when the file is read: an entry
with a registry that is not a host, a digest that is not sha256, a repository that is not a
repository path, or a value of the wrong type is dropped (and gone from the file at the next
save), so nothing in the file can fail a copy or reach a request. Writes go through a
temporary file and a rename, merged with what another process wrote meanwhile, so a killed
run leaves the previous file whole. The file is bounded: the least recently recorded digests
are dropped beyond `max_digests`, and each digest keeps its `max_repositories` newest places.

The path is the configuration's (bot/config.py works out the default,
`${XDG_CACHE_HOME:-~/.cache}/mirror-bot/blob-locations.json`, which workflows keep between runs
with actions/cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.image.grammar import SHA256_DIGEST_RE
from bot.image.reference import MAX_REPOSITORY_LENGTH, is_valid_domain, is_valid_path_component

FORMAT_VERSION = 1
MAX_DIGESTS = 50_000
MAX_REPOSITORIES = 4

# {registry: {digest: [repository, ...]}}, repositories newest last
Locations = dict[str, dict[str, list[str]]]


def _valid(data: object) -> Locations:
    """Keep only well-formed entries of a file anybody could have written."""
    registries = data.get("registries") if isinstance(data, dict) else None
    if not isinstance(registries, dict):
        return {}
    clean: Locations = {}
    for registry, digests in registries.items():
        if not is_valid_domain(registry) or not isinstance(digests, dict):
            continue
        clean[registry] = {
            digest: [r for r in repos if _is_repository(registry, r)][-MAX_REPOSITORIES:]
            for digest, repos in digests.items()
            if isinstance(digest, str) and SHA256_DIGEST_RE.match(digest) and isinstance(repos, list)
        }
    return clean


def _is_repository(registry: str, repository: object) -> bool:
    """A repository path `registry` could hold, by the rule the mount request checks."""
    return (isinstance(repository, str)
            and len(registry) + 1 + len(repository) <= MAX_REPOSITORY_LENGTH
            and all(is_valid_path_component(part) for part in repository.split("/")))


@dataclass
class BlobLocations:
    """Thread-safe; `record` changes memory, `save` merges it into the file."""

    path: Path | None
    max_digests: int = MAX_DIGESTS
    max_repositories: int = MAX_REPOSITORIES
    _locations: Locations = field(default_factory=dict, repr=False)
    _recorded: Locations = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path | None) -> BlobLocations:
        cache = cls(path)
        cache._locations = cache._read()
        return cache

    def _read(self) -> Locations:
        if self.path is None:
            return {}
        try:
            return _valid(json.loads(self.path.read_text()))
        except (OSError, ValueError, RecursionError):  # RecursionError: nesting too deep
            return {}

    def repositories(self, registry: str, digest: str) -> list[str]:
        """Repositories of `registry` believed to hold `digest`, most recently recorded first."""
        with self._lock:
            return list(reversed(self._locations.get(registry, {}).get(digest, [])))

    def record(self, registry: str, repository: str, digests: Iterable[str]) -> None:
        with self._lock:
            for target in (self._locations, self._recorded):
                _add(target, registry, repository, digests, self.max_repositories)

    def save(self) -> None:
        """Merge what this process recorded into the file (atomically); no-op without a path."""
        if self.path is None:
            return
        with self._lock:
            if not self._recorded:
                return
            with _file_lock(self.path):  # another run on this machine may save at once
                merged = self._read()
                for registry, digests in self._recorded.items():
                    for digest, repositories in digests.items():
                        for repository in repositories:
                            _add(merged, registry, repository, [digest], self.max_repositories)
                _trim(merged, self.max_digests)
                _write_atomically(self.path, {"version": FORMAT_VERSION, "registries": merged})
            self._locations = merged
            self._recorded = {}


def _add(locations: Locations, registry: str, repository: str, digests: Iterable[str],
         max_repositories: int) -> None:
    by_digest = locations.setdefault(registry, {})
    for digest in digests:
        repositories = [r for r in by_digest.pop(digest, []) if r != repository]
        by_digest[digest] = [*repositories, repository][-max_repositories:]  # newest last


def _trim(locations: Locations, max_digests: int) -> None:
    """Drop the least recently recorded digests (dicts keep insertion order) beyond the cap."""
    total = sum(len(digests) for digests in locations.values())
    for digests in locations.values():
        while total > max_digests and digests:
            del digests[next(iter(digests))]
            total -= 1


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: object) -> None:
    fd, temporary = tempfile.mkstemp(prefix=".blob-locations-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
