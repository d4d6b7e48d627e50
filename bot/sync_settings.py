"""How the sync engine copies, from the environment: parallel processes, large blobs, the cache.

Rule: every setting has a default that suits a 2-core runner; a value that does not parse is a
configuration error (exit 2), never silently replaced. `MIRROR_COPY_PROCESSES` bounds the skopeo
processes of one mirror-bot process, shared by every image it syncs: an index's platforms and
`--jobs` images at once together never run more than that many skopeo processes.

| variable | default | meaning |
|---|---|---|
| MIRROR_COPY_PROCESSES | 6 | skopeo processes at once (an index's platforms, several images) |
| MIRROR_BLOB_THRESHOLD | 32MiB | blobs at least this large are copied in ranges (or mounted) |
| MIRROR_BLOB_CHUNK | 8MiB | the size of one range |
| MIRROR_BLOB_PARALLEL | 8 | ranges in flight per blob (memory ~ chunk x parallel) |
| MIRROR_BLOB_CACHE | see bot/sync_cache.py | where the mirror holds blobs; `off` disables it |

Light to import: configuration is read before any command runs, the transport is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.policy import SIZE_RE, SIZE_UNITS
from bot.sync_cache import default_path

if TYPE_CHECKING:
    from bot.blobs import BlobCopySettings

DEFAULT_COPY_PROCESSES = 6


def _size(env: Mapping[str, str], name: str) -> int | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    match = SIZE_RE.match(text)
    if not match:
        raise ConfigError(f"{name}={text!r} is not a size (write bytes or e.g. 32MiB)")
    value = int(float(match.group(1)) * SIZE_UNITS[match.group(2) or "B"])
    if value < 1:
        raise ConfigError(f"{name} must be at least 1 byte")
    return value


def _count(env: Mapping[str, str], name: str) -> int | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name}={text!r} must be a whole number of at least 1")
    return int(text)


@dataclass(frozen=True)
class EngineSettings:
    copy_processes: int = DEFAULT_COPY_PROCESSES
    # None: the transport's own default (bot/blobs.py BlobCopySettings)
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
            copy_processes=_count(env, "MIRROR_COPY_PROCESSES") or DEFAULT_COPY_PROCESSES,
            blob_threshold=_size(env, "MIRROR_BLOB_THRESHOLD"),
            blob_chunk=_size(env, "MIRROR_BLOB_CHUNK"),
            blob_parallel=_count(env, "MIRROR_BLOB_PARALLEL"),
            cache=cache,
        )

    def blob_copy(self, defaults: BlobCopySettings) -> BlobCopySettings:
        """The transport's settings (`defaults`) with what the environment changed."""
        return replace(defaults, threshold=self.blob_threshold or defaults.threshold,
                       chunk_size=self.blob_chunk or defaults.chunk_size,
                       parallel=self.blob_parallel or defaults.parallel)
