"""How the sync engine copies, from the environment: parallel processes, large blobs, the cache.

Rule: every setting has a default that suits a 2-core runner; a value that does not parse is a
configuration error (exit 2), never silently replaced. `MIRROR_COPY_PROCESSES` bounds the skopeo
processes of one mirror-bot process, shared by every image it syncs (`--jobs` images at once
share them): total skopeo processes <= MIRROR_COPY_PROCESSES whatever `--jobs` is.

| variable | default | meaning |
|---|---|---|
| MIRROR_COPY_PROCESSES | 6 | skopeo processes at once (an index's platforms, several images) |
| MIRROR_BLOB_THRESHOLD | 32MiB | blobs at least this large are copied in ranges (or mounted) |
| MIRROR_BLOB_CHUNK | 8MiB | the size of one range |
| MIRROR_BLOB_PARALLEL | 8 | ranges in flight per blob (memory ~ chunk x parallel) |
| MIRROR_BLOB_CACHE | see bot/sync_cache.py | where the mirror holds blobs; `off` disables |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.blobs import DEFAULT_BLOB_COPY, BlobCopySettings, ProgressPrinter
from bot.errors import ConfigError
from bot.policy import SIZE_RE, SIZE_UNITS
from bot.sync_cache import BlobLocations, default_path
from bot.sync_copy import DEFAULT_COPY_PROCESSES, BlobStager, BlobTransport


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    match = SIZE_RE.match(text)
    if not match:
        raise ConfigError(f"{name}={text!r} is not a size (write bytes or e.g. 32MiB)")
    value = int(float(match.group(1)) * SIZE_UNITS[match.group(2) or "B"])
    if value < 1:
        raise ConfigError(f"{name} must be at least 1 byte")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name}={text!r} must be a whole number of at least 1")
    return int(text)


@dataclass(frozen=True)
class EngineSettings:
    copy_processes: int = DEFAULT_COPY_PROCESSES
    blobs: BlobCopySettings = DEFAULT_BLOB_COPY
    cache: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EngineSettings:
        cache_setting = (env.get("MIRROR_BLOB_CACHE") or "").strip()
        cache = (None if cache_setting.lower() == "off"
                 else Path(cache_setting) if cache_setting else default_path(env))
        return cls(
            copy_processes=_count(env, "MIRROR_COPY_PROCESSES", DEFAULT_COPY_PROCESSES),
            blobs=BlobCopySettings(
                threshold=_size(env, "MIRROR_BLOB_THRESHOLD", DEFAULT_BLOB_COPY.threshold),
                chunk_size=_size(env, "MIRROR_BLOB_CHUNK", DEFAULT_BLOB_COPY.chunk_size),
                parallel=_count(env, "MIRROR_BLOB_PARALLEL", DEFAULT_BLOB_COPY.parallel)),
            cache=cache,
        )

    def staging(self, transport: BlobTransport, progress: TextIO | None) -> BlobStager:
        """Large blobs copied by `transport`, a line per blob on `progress` while it moves."""
        return BlobStager(transport, BlobLocations.load(self.cache), self.blobs,
                          ProgressPrinter(progress) if progress is not None else None)
