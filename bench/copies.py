"""Copies that are slow with skopeo alone (issue 13), mirror-bot and skopeo side by side:

(A) one 4-platform image, cold, every request delayed, written to one address as skopeo writes
it; (A2) the same image as an official one (`docker.io/library/NAME`), for which mirror-bot
also writes the address people compose, `docker.io/NAME` (skopeo still writes one); (B) one
image with a large layer through a link that caps each connection's throughput, with the peak
memory of the mirror-bot process (skopeo's reported apart); (B') the same image through a link
that caps all connections together, where ranges cannot help; (C) a second repository whose
image shares layers with one already mirrored: the upstream bytes of the shared layers, with
and without the caches a workflow keeps between runs; (A, TCP) the image of (A) under a
TCP-level link model (sandbox/tcp_delay.py: every client-to-server byte delayed, pipelined, a
new connection's handshake one more round trip, or free) instead of the HTTP-level proxy,
which delays each request as a whole.

Every sample also counts what it read upstream, from the upstream registry's access log: the
manifest GETs (what Docker Hub counts as pulls) and the blob GETs (a ranged copy's ranges are
GETs of their own, so the blobs they are for are counted apart).

Every sample copies into a fresh mirror; runs are interleaved across tools. mirror-bot runs as
`python -m bot sync` with its defaults (its own peak RSS read in-process at exit, bench/rss.py;
its skopeo children sampled from outside); skopeo as `skopeo copy --all --preserve-digests`
(peak RSS sampled from /proc, bench/rss.py).

`python -m bench.copies` runs these alone (BENCH_COPY_SCENARIOS picks some:
A,A2,A-tcp,A-tcp-free,B,B',C).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import LoadSampler
from bench.rss import PeakSampler, children_of
from sandbox.fault_proxy import proxy_process
from sandbox.images import BuiltImage, build_image, push
from sandbox.registries import Registry, start_registry
from sandbox.tcp_delay import tcp_delay_process

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
LATENCY = float(os.environ.get("BENCH_LATENCY_MS", "20")) / 1000
LARGE_MIB = int(os.environ.get("BENCH_LARGE_MIB", "40"))
RATE_MIB = float(os.environ.get("BENCH_RATE_MIB", "4"))  # per connection, in (B)
LINK_MIB = float(os.environ.get("BENCH_LINK_MIB", "8"))  # all connections together, in (B')
RUNS = int(os.environ.get("BENCH_COPY_RUNS", "5"))
LAYER_KIB = [int(x) for x in os.environ.get("BENCH_LAYER_KIB", "1024,512,256,256,128,64").split(",")]
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x")
SCENARIOS = os.environ.get("BENCH_COPY_SCENARIOS", "A,A2,A-tcp,A-tcp-free,B,B',C").split(",")
BLOB_GET_RE = re.compile(r'"GET /v2/\S+/blobs/(?P<digest>sha256:[0-9a-f]{64}) HTTP/[\d.]+" \d{3} '
                         r'(?P<size>\d+)')
DEFAULTS = "MIRROR_BLOB_THRESHOLD 32 MiB, MIRROR_BLOB_CHUNK 8 MiB, MIRROR_BLOB_PARALLEL 8"


@dataclass
class Sample:
    seconds: float
    self_kib: int | None = None  # the measured process itself
    children_kib: int | None = None  # the largest of its children (skopeo under mirror-bot)
    shared_bytes: int | None = None  # upstream bytes of the layers shared with another image
    manifest_gets: int = 0  # upstream, read from its access log
    blob_gets: int = 0  # upstream GETs of blobs, each range one
    blobs: int = 0  # distinct blobs those GETs were for


@dataclass
class Row:
    scenario: str
    tool: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    def peak(self, attribute: str) -> int | None:
        values = [getattr(s, attribute) for s in self.samples if getattr(s, attribute) is not None]
        return max(values) if values else None

    def gets(self) -> str:
        """Upstream manifest and blob GETs of one copy (the same in every sample, or a range)."""
        def spread(values: list[int]) -> str:
            low, high = min(values), max(values)
            return str(low) if low == high else f"{low}-{high}"
        blob_gets = spread([s.blob_gets for s in self.samples])
        blobs = spread([s.blobs for s in self.samples])
        ranged = "" if blob_gets == blobs else f" ({blobs} blobs)"
        return f"{spread([s.manifest_gets for s in self.samples])} | {blob_gets}{ranged}"


class CopyBed:
    """An upstream behind a modelled link, and a fresh mirror (behind the same latency) per
    sample. The link models run in processes of their own: the HTTP-level
    sandbox.fault_proxy.proxy_process, or with `tcp` sandbox.tcp_delay (latency only)."""

    def __init__(self, work: Path, upstream: Registry, stack: ExitStack, *, rate: float = 0,
                 shared_rate: float = 0, tcp: bool = False, handshake: bool = True) -> None:
        self.work, self.stack, self.upstream = work, stack, upstream
        self.tcp, self.handshake = tcp, handshake
        self.upstream_host = stack.enter_context(self._link(upstream.host, rate, shared_rate))
        self.mirror: Registry | None = None
        self.mirror_host = ""
        self.conf = work / "registries.conf"
        self._mirror_proxy = ExitStack()

    def _link(self, backend: str, rate: float = 0, shared_rate: float = 0) \
            -> AbstractContextManager[str]:
        if self.tcp:
            return tcp_delay_process(backend, LATENCY, handshake=self.handshake)
        return proxy_process(backend, latency=LATENCY, rate=rate, shared_rate=shared_rate)

    def new_mirror(self) -> None:
        self.stop()
        self.mirror = start_registry(Path(tempfile.mkdtemp(dir=self.work)))
        self.mirror_host = self._mirror_proxy.enter_context(self._link(self.mirror.host))
        self.conf = self.work / f"registries-{self.mirror.port}.conf"
        hosts = [self.upstream_host, self.mirror_host, self.alias]
        self.conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{self.upstream_host}/docker.io"\n'
            "insecure = true\n" + "".join(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
                                          for host in hosts))

    def count_gets(self, sample: Sample) -> Sample:
        """Fills in the upstream GETs since the last mark() (the copy has ended: its last
        upstream request was answered, and logged, before it wrote to the mirror)."""
        gets = [path for method, path, _ in self.upstream.requests() if method == "GET"]
        sample.manifest_gets = sum(1 for path in gets if "/manifests/" in path)
        blobs = [path.rsplit("/", 1)[1] for path in gets if "/blobs/sha256:" in path]
        sample.blob_gets, sample.blobs = len(blobs), len(set(blobs))
        return sample

    def upstream_bytes(self, digests: Iterable[str]) -> int:
        """Blob bytes the upstream registry sent for `digests` since its last mark()."""
        wanted = set(digests)
        log = self.upstream.log_path.read_text(errors="replace")[self.upstream.log_offset:]
        return sum(int(m["size"]) for m in BLOB_GET_RE.finditer(log) if m["digest"] in wanted)

    @property
    def alias(self) -> str:
        """The mirror under another name: caches keyed by host know nothing about it."""
        return self.mirror_host.replace("127.0.0.1", "localhost")

    def stop(self) -> None:
        self._mirror_proxy.close()
        if self.mirror is not None:
            self.mirror.stop()

    def skopeo(self, source: str, mirror_host: str | None = None) -> Sample:
        target = f"{mirror_host or self.mirror_host}/{source}"
        argv = ["skopeo", "--registries-conf", str(self.conf), "copy", "--quiet", "--all",
                "--preserve-digests", f"docker://{source}", f"docker://{target}"]
        self.upstream.mark()
        with tempfile.TemporaryFile() as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
            with PeakSampler(lambda: [process.pid]) as memory:
                process.wait()
            seconds = time.perf_counter() - started
            if process.returncode != 0:
                stderr.seek(0)
                raise RuntimeError(stderr.read().decode(errors="replace"))
        return self.count_gets(Sample(seconds, self_kib=memory.peak))

    def mirror_bot(self, source: str, cache: Path, mirror_host: str | None = None,
                   **settings: str) -> Sample:
        allowlist = self.work / "allowlist-copies.yaml"
        allowlist.write_text("allow:\n  - docker.io/library/*\n  - docker.io/bench/*\n")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "GITHUB_"))},
               "CONTAINERS_REGISTRIES_CONF": str(self.conf),
               "MIRROR_REGISTRY": mirror_host or self.mirror_host,
               "MIRROR_ALLOWLIST": str(allowlist), "MIRROR_BLOB_CACHE": str(cache), **settings}
        rss = self.work / "rss.json"
        argv = [sys.executable, "-m", "bench.rss", str(rss), "bot", "sync", "--json", source]
        self.upstream.mark()
        with tempfile.TemporaryFile() as output:
            started = time.perf_counter()
            process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=output, stderr=output)
            with PeakSampler(lambda: children_of(process.pid)) as children:
                process.wait()
            seconds = time.perf_counter() - started
            if process.returncode != 0:
                output.seek(0)
                raise RuntimeError(output.read().decode(errors="replace"))
        return self.count_gets(Sample(seconds, json.loads(rss.read_text())["self_kib"],
                                      children.peak))


@contextmanager
def copy_bed(work: Path, upstream: Registry, **link: Any) -> Iterator[CopyBed]:
    with ExitStack() as stack:
        bed = CopyBed(work, upstream, stack, **link)
        try:
            yield bed
        finally:
            bed.stop()


def seed(upstream: Registry, work: Path, name: str, namespaces: tuple[str, ...] = ("library",),
         **shape: object) -> BuiltImage:
    image = build_image(work / "seed-copies" / name, "1.0", seed=name, **shape)  # type: ignore[arg-type]
    for namespace in namespaces:
        push(image, f"{upstream.host}/docker.io/{namespace}/{name}:1.0")
    return image


def side_by_side(bed: CopyBed, scenario: str, source: str) -> list[Row]:
    tools: dict[str, Callable[[], Sample]] = {
        "skopeo copy --all --preserve-digests": lambda: bed.skopeo(source),
        "mirror-bot sync": lambda: bed.mirror_bot(source, Path(tempfile.mkdtemp(dir=bed.work))
                                                  / "blob-locations.json"),
    }
    rows = {tool: Row(scenario, tool) for tool in tools}
    for _ in range(RUNS):
        for tool, run in tools.items():
            bed.new_mirror()
            rows[tool].samples.append(run())
    for row in rows.values():
        print(f"  {scenario}, {row.tool}: {row.median:.2f}s", file=sys.stderr, flush=True)
    return list(rows.values())


def shared_layers(bed: CopyBed, first: str, second: str, shared: frozenset[str]) -> list[Row]:
    """(C): `first` mirrored, then `second` measured, by each tool with its cache kept or not.
    A cache 'not kept' is modelled by mirroring `first` under the mirror's other host name."""
    def measure(tool: str, copy: Callable[[str, str | None], Sample], kept: bool) -> Row:
        bed.new_mirror()
        copy(first, None if kept else bed.alias)
        sample = copy(second, None)  # each copy marks the upstream's log as it starts
        sample.shared_bytes = bed.upstream_bytes(shared)
        print(f"  shared layers, {tool}: {sample.shared_bytes} bytes", file=sys.stderr, flush=True)
        return Row("C: second repository sharing layers", tool, [sample])

    def mirror_bot(kept: bool) -> Callable[[str, str | None], Sample]:
        caches = [Path(tempfile.mkdtemp(dir=bed.work)) / "blob-locations.json"]
        caches.append(caches[0] if kept else Path(tempfile.mkdtemp(dir=bed.work)) / "c.json")
        return lambda source, host: bed.mirror_bot(source, caches.pop(0), host)

    return [
        measure("skopeo, blob-info cache not kept (a fresh runner)", bed.skopeo, kept=False),
        measure("skopeo, blob-info cache kept", bed.skopeo, kept=True),
        measure("mirror-bot, caches not kept (a fresh runner)", mirror_bot(False), kept=False),
        measure("mirror-bot, blob-location cache kept", mirror_bot(True), kept=True),
    ]


@dataclass
class Copies:
    rows: list[Row]
    load: str  # how busy the machine was meanwhile (bench/load.py)


def run_copies(work: Path, upstream: Registry) -> Copies:
    with LoadSampler() as load:
        rows = _run_copies(work, upstream)
    return Copies(rows, load.summary())


def _run_copies(work: Path, upstream: Registry) -> list[Row]:
    print(f"copies: {', '.join(SCENARIOS)} (A: 4 platforms, A2: official, two addresses; A-tcp: "
          "A under the TCP-level model; B: a large layer, per-connection cap; B': total cap; "
          "C: shared layers)", file=sys.stderr, flush=True)
    layers = tuple(k * 1024 for k in LAYER_KIB)
    seed(upstream, work, "copies-a", ("bench", "library"), platforms=PLATFORMS,
         layer_sizes=layers, shared_layers=2, attestation=True)
    large = (LARGE_MIB * MiB, MiB, 256 * 1024)
    if {"B", "B'"} & set(SCENARIOS):
        seed(upstream, work, "copies-b", platforms=("linux/amd64",), layer_sizes=large,
             shared_base=None)
    rows = []
    latency = f"{LATENCY * 1000:.0f} ms"
    with copy_bed(work, upstream) as bed:
        if "A" in SCENARIOS:
            rows += side_by_side(bed, f"A: 4 platforms, cold, {latency}",
                                 "docker.io/bench/copies-a:1.0")
        if "A2" in SCENARIOS:
            rows += side_by_side(bed, "A2: the same, an official image (mirror-bot: two "
                                 "addresses)", "docker.io/library/copies-a:1.0")
    for handshake, scenario in ((True, "A-tcp"), (False, "A-tcp-free")):
        if scenario in SCENARIOS:
            with copy_bed(work, upstream, tcp=True, handshake=handshake) as bed:
                rows += side_by_side(
                    bed, f"A, TCP-level link, {latency}, handshake "
                    f"{'one round trip' if handshake else 'free'}", "docker.io/bench/copies-a:1.0")
    if "B" in SCENARIOS:
        with copy_bed(work, upstream, rate=RATE_MIB * MiB) as bed:
            rows += side_by_side(bed, f"B: {LARGE_MIB} MiB layer, {RATE_MIB:g} MiB/s per "
                                 "connection", "docker.io/library/copies-b:1.0")
    if "B'" in SCENARIOS:
        with copy_bed(work, upstream, shared_rate=LINK_MIB * MiB) as bed:
            rows += side_by_side(bed, f"B': {LARGE_MIB} MiB layer, {LINK_MIB:g} MiB/s in total",
                                 "docker.io/library/copies-b:1.0")
    if "C" in SCENARIOS:
        x = seed(upstream, work, "copies-c-x", platforms=("linux/amd64",), layer_sizes=large,
                 shared_base="copies-c", shared_layers=2)
        y = seed(upstream, work, "copies-c-y", platforms=("linux/amd64",), layer_sizes=large,
                 shared_base="copies-c", shared_layers=2)
        with copy_bed(work, upstream) as bed:
            rows += shared_layers(bed, "docker.io/library/copies-c-x:1.0",
                                  "docker.io/library/copies-c-y:1.0", x.blobs & y.blobs)
    return rows


def _mib(kib: int | None) -> str:
    return f"{kib / 1024:.0f} MiB" if kib is not None else "-"


def render_copies(copies: Copies) -> str:
    rows = copies.rows
    lines = ["| scenario | tool | median s | vs skopeo | manifest GETs upstream "
             "| blob GETs upstream | peak RSS | its skopeo's peak RSS "
             "| shared-layer bytes fetched upstream |", "|---|---|---|---|---|---|---|---|---|"]
    baseline: dict[str, float] = {}
    for row in rows:
        baseline.setdefault(row.scenario, row.median)
        ratio = row.median / baseline[row.scenario]
        shared = row.peak("shared_bytes")
        lines.append(f"| {row.scenario} | {row.tool} | {row.median:.2f} | {ratio:.2f} | "
                     f"{row.gets()} | {_mib(row.peak('self_kib'))} | "
                     f"{_mib(row.peak('children_kib'))} | "
                     f"{'-' if shared is None else f'{shared / MiB:.1f} MiB'} |")
    return f"""## Copies skopeo alone makes slow (issue 13)

One image per scenario, copied into a fresh mirror per sample; medians of {RUNS} interleaved runs
(C: one run; its figure is bytes, which do not vary). "vs skopeo" is the tool's time over
`skopeo copy --all --preserve-digests`'s, measured in the same run (lower is faster). Every
request to either registry is delayed {LATENCY * 1000:.0f} ms. (A) is the 4-platform image of the
tables above as `docker.io/bench/copies-a`, written to one address by both tools; (A2) is the
same image as the official `docker.io/library/copies-a`, for which mirror-bot also writes the
address people compose (`docker.io/copies-a`, by mounts and manifest puts) while skopeo still
writes one; (B) and (B') one platform, a {LARGE_MIB} MiB layer (random, so incompressible) plus
1 MiB and 256 KiB; (B) caps each upstream connection at {RATE_MIB:g} MiB/s, (B') caps all
upstream connections together at {LINK_MIB:g} MiB/s; (C) mirrors an image, then a second
repository's image sharing its {LARGE_MIB} MiB and 1 MiB layers, and counts the bytes of the
shared layers the second copy fetched upstream. "A, TCP-level link" is (A) with both
registries behind sandbox/tcp_delay.py instead of the HTTP-level proxy: every byte a client
sends reaches the server {LATENCY * 1000:.0f} ms later (a new connection's first bytes one more
round trip later, its handshake, or not: both are measured), bytes in flight pipelined,
throughput not capped, answers at once (the HTTP-level proxy delays
each request as a whole, once its body is read, and relays it through Python). mirror-bot runs
with its defaults ({DEFAULTS}, MIRROR_COPY_PROCESSES 6). Peak RSS is the process's own (for
mirror-bot, the Python process, read at exit; the largest of its skopeo children, sampled from
outside, is reported apart). Manifest and blob GETs are what the copy read from the upstream
registry, from its access log (Docker Hub counts each manifest GET as a pull; a blob copied in
ranges is one GET per range, the blobs are then counted apart); they are the same in every
sample, or their range is shown.
The machine meanwhile: {copies.load}.

{chr(10).join(lines)}
"""


def main() -> int:
    """The copies alone (`python -m bench.copies`): the table on stdout."""
    with tempfile.TemporaryDirectory(prefix="mirror-bot-copies-") as folder:
        work = Path(folder)
        upstream = start_registry(work / "upstream")
        try:
            copies = run_copies(work, upstream)
        finally:
            upstream.stop()
    print(render_copies(copies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
