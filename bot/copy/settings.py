"""How the sync engine copies: parallel processes, large blobs, the cache.

Rule: every setting has a default that suits a 2-core runner. bot/config.py reads them from the
environment (a value that does not parse is a configuration error, exit 2, never silently
replaced) and hands them here as values. `MIRROR_COPY_PROCESSES` bounds the skopeo processes of
one mirror-bot process, shared by every image it syncs: an index's platforms and `--jobs`
images at once together never run more than that many skopeo processes.

| variable | default | meaning |
|---|---|---|
| MIRROR_COPY_PROCESSES | 6 | skopeo processes at once (an index's platforms, several images) |
| MIRROR_BLOB_THRESHOLD | 32MiB | blobs at least this large are copied in ranges (or mounted) |
| MIRROR_BLOB_CHUNK | 8MiB | the size of one range; blobs up to this size are copied whole, many at once |
| MIRROR_BLOB_PARALLEL | 8 | ranges in flight per blob (memory ~ 1.5 x chunk x parallel) |
| MIRROR_BLOB_CACHE | see bot/config.py | the blob-location cache file (bot/copy/cache.py); `off`: none |

Light to import: configuration is read before any command runs, the transport is not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.registry.blobs import BlobCopySettings

DEFAULT_COPY_PROCESSES = 6
# Look-ups (manifest HEADs and GETs) in flight: each image synced at once (`--jobs`) sends its
# upstream and mirror HEADs together, so the look-ups grow with the jobs, between the 16 an
# index's children need in one round and 64 (what one runner's connections bear).
MIN_LOOKUPS, LOOKUPS_PER_JOB, MAX_LOOKUPS = 16, 4, 64


def lookups_in_flight(jobs: int) -> int:
    """The look-ups one process keeps in flight when it syncs `jobs` images at once."""
    return min(MAX_LOOKUPS, max(MIN_LOOKUPS, LOOKUPS_PER_JOB * jobs))


@dataclass(frozen=True)
class EngineSettings:
    copy_processes: int = DEFAULT_COPY_PROCESSES
    # None: the transport's own default (bot/registry/blobs.py BlobCopySettings)
    blob_threshold: int | None = None
    blob_chunk: int | None = None
    blob_parallel: int | None = None
    cache: Path | None = None  # the blob-location cache; None: none kept

    def blob_copy(self, defaults: BlobCopySettings) -> BlobCopySettings:
        """The transport's settings (`defaults`) with what the configuration changed."""
        return replace(defaults, threshold=self.blob_threshold or defaults.threshold,
                       chunk_size=self.blob_chunk or defaults.chunk_size,
                       parallel=self.blob_parallel or defaults.parallel)
