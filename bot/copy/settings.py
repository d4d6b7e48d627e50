"""How the sync engine copies, from the environment: parallel processes, large blobs, the cache.

Rule: every setting has a default that suits a 2-core runner; a value that does not parse is a
configuration error (exit 2), never silently replaced. `MIRROR_COPY_PROCESSES` bounds the skopeo
processes of one mirror-bot process, shared by every image it syncs: an index's platforms and
`--jobs` images at once together never run more than that many skopeo processes.

| variable | default | meaning |
|---|---|---|
| MIRROR_COPY_PROCESSES | 6 | skopeo processes at once (an index's platforms, several images) |
| MIRROR_BLOB_THRESHOLD | 32MiB | blobs at least this large are copied in ranges (or mounted) |
| MIRROR_BLOB_CHUNK | 8MiB | the size of one range; blobs up to this size are copied whole, many at once |
| MIRROR_BLOB_PARALLEL | 8 | ranges in flight per blob (memory ~ 1.5 x chunk x parallel) |
| MIRROR_BLOB_CACHE | see bot/copy/cache.py | where the mirror holds blobs; `off` disables it |

Light to import: configuration is read before any command runs, the transport is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.copy.cache import default_path
from bot.errors import ConfigError
from bot.policy.settings import size, whole_number

if TYPE_CHECKING:
    from bot.registry.blobs import BlobCopySettings

DEFAULT_COPY_PROCESSES = 6


def _setting(env: Mapping[str, str], name: str, parse: Callable[[str], int]) -> int | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        return parse(text)
    except ValueError as error:
        raise ConfigError(f"{name}={text[:40]!r}: {error}") from error


def _count(text: str) -> int:
    if not text.isdigit():
        raise ValueError("must be a whole number of at least 1")
    return whole_number(int(text))


@dataclass(frozen=True)
class EngineSettings:
    copy_processes: int = DEFAULT_COPY_PROCESSES
    # None: the transport's own default (bot/registry/blobs.py BlobCopySettings)
    blob_threshold: int | None = None
    blob_chunk: int | None = None
    blob_parallel: int | None = None
    cache: Path | None = None  # the blob-location cache; None: none kept

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EngineSettings:
        cache_setting = (env.get("MIRROR_BLOB_CACHE") or "").strip()
        cache = (None if cache_setting.lower() == "off"
                 else Path(cache_setting) if cache_setting else default_path(env))
        return cls(
            copy_processes=(_setting(env, "MIRROR_COPY_PROCESSES", _count)
                            or DEFAULT_COPY_PROCESSES),
            blob_threshold=_setting(env, "MIRROR_BLOB_THRESHOLD", size),
            blob_chunk=_setting(env, "MIRROR_BLOB_CHUNK", size),
            blob_parallel=_setting(env, "MIRROR_BLOB_PARALLEL", _count),
            cache=cache,
        )

    def blob_copy(self, defaults: BlobCopySettings) -> BlobCopySettings:
        """The transport's settings (`defaults`) with what the environment changed."""
        return replace(defaults, threshold=self.blob_threshold or defaults.threshold,
                       chunk_size=self.blob_chunk or defaults.chunk_size,
                       parallel=self.blob_parallel or defaults.parallel)
