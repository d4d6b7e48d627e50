"""The no-op check at a real mirror's scale (issue 25): `mirror-bot sync` over 1,000 tags that
are all mirrored and unchanged, every request to either registry delayed (20 ms, the HTTP-level
proxy of sandbox/fault_proxy.py), against the floor: the two manifest HEADs per tag (upstream
and mirror) that any checker must send, sent by a plain client with 16 and with 64 in flight.
The same two without the proxies (no delay) show what the machine's CPU alone allows, and the
CPU time each checker spent is counted (the registries' and proxies' is not).

The tags are seeded cheaply: one 4-platform index pushed once to each registry, then its bytes
put under every other tag (one manifest PUT each, straight to the registry). Runs are
interleaved across tools; medians. `python -m bench.noop_tags` runs this alone (BENCH_NOOP_TAGS,
BENCH_NOOP_RUNS, BENCH_NOOP_JOBS, BENCH_LATENCY_MS).
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadSampler
from sandbox.fault_proxy import proxy_process
from sandbox.images import OCI_INDEX, build_image, push
from sandbox.registries import Registry, start_registry

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TAGS = int(os.environ.get("BENCH_NOOP_TAGS", "1000"))
RUNS = int(os.environ.get("BENCH_NOOP_RUNS", "5"))
JOBS = tuple(int(n) for n in os.environ.get("BENCH_NOOP_JOBS", "16,64").split(","))
LATENCY = float(os.environ.get("BENCH_LATENCY_MS", "20")) / 1000
REPOSITORY = "docker.io/bench/noop"
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x")
ACCEPT = ", ".join(("application/vnd.oci.image.index.v1+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.docker.distribution.manifest.v2+json"))
TARGET_SECONDS = 2.0  # issue 25: 1,000 unchanged tags at 20 ms with --jobs 16


@dataclass
class Series:
    label: str
    seconds: list[float] = field(default_factory=list)
    upstream: dict[str, int] = field(default_factory=dict)  # "HEAD manifests": count, 1 run
    cpu: list[float] = field(default_factory=list)  # the checker's own CPU seconds per run

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def tag(n: int) -> str:
    return f"t{n:04d}"


@dataclass
class NoopBed:
    work: Path
    upstream: Registry
    mirror: Registry
    upstream_host: str  # behind the latency proxy
    mirror_host: str

    @property
    def direct(self) -> NoopBed:
        """The same registries, no proxy in front: no delay."""
        return NoopBed(self.work, self.upstream, self.mirror, self.upstream.host, self.mirror.host)

    def env(self) -> dict[str, str]:
        conf = self.work / "registries-noop.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{self.upstream_host}/docker.io"\n'
            "insecure = true\n" + "".join(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
                                          for host in (self.upstream_host, self.mirror_host)))
        allowlist = self.work / "allowlist-noop.yaml"
        allowlist.write_text("allow:\n  - docker.io/bench/*\n")
        return {**{k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "GITHUB_"))},
                "CONTAINERS_REGISTRIES_CONF": str(conf), "MIRROR_REGISTRY": self.mirror_host,
                "MIRROR_ALLOWLIST": str(allowlist),
                "MIRROR_BLOB_CACHE": str(self.work / "blob-locations-noop.json")}


def seed(work: Path, upstream: Registry, mirror: Registry) -> None:
    """One index pushed to both registries, then put under every other tag on both."""
    image = build_image(work / "seed-noop", tag(0), seed="noop", platforms=PLATFORMS,
                        layer_sizes=(4096, 2048), attestation=True)
    data = (image.layout / "blobs" / "sha256" / image.index_digest.split(":", 1)[1]).read_bytes()
    path = REPOSITORY.split("/", 1)[1]
    puts = []
    for registry, name in ((upstream, f"docker.io/{path}"), (mirror, REPOSITORY)):
        push(image, f"{registry.host}/{name}:{tag(0)}")
        puts += [(registry.host, f"/v2/{name}/manifests/{tag(n)}") for n in range(1, TAGS)]
    connections = threading.local()

    def put(where: tuple[str, str]) -> None:
        host, url = where
        if getattr(connections, host, None) is None:
            setattr(connections, host, http.client.HTTPConnection(host, timeout=30))
        connection = getattr(connections, host)
        connection.request("PUT", url, body=data, headers={"Content-Type": OCI_INDEX})
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"PUT {url} on {host}: {response.status}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, puts))


@contextmanager
def noop_bed(work: Path) -> Iterator[NoopBed]:
    with ExitStack() as stack:
        upstream = start_registry(work / "upstream-noop")
        stack.callback(upstream.stop)
        mirror = start_registry(work / "mirror-noop")
        stack.callback(mirror.stop)
        print(f"no-op check: seeding {TAGS} tags", file=sys.stderr, flush=True)
        seed(work, upstream, mirror)
        yield NoopBed(work, upstream, mirror,
                      stack.enter_context(proxy_process(upstream.host, latency=LATENCY)),
                      stack.enter_context(proxy_process(mirror.host, latency=LATENCY)))


def mirror_bot(jobs: int) -> Callable[[NoopBed], None]:
    def run(bed: NoopBed) -> None:
        completed = subprocess.run(
            [str(BIN / "mirror-bot"), "sync", "--json", "--jobs", str(jobs),
             *(f"{REPOSITORY}:{tag(n)}" for n in range(TAGS))],
            env=bed.env(), capture_output=True, text=True, cwd=bed.work)
        statuses = {r["status"] for r in json.loads(completed.stdout or "{}").get("results", [])}
        if completed.returncode != 0 or statuses != {"unchanged"}:
            raise RuntimeError(f"sync --jobs {jobs}: exit {completed.returncode}, {statuses}: "
                               + completed.stderr[-2000:])
    return run


def floor(in_flight: int) -> Callable[[NoopBed], None]:
    """The two manifest HEADs per tag, `in_flight` at a time, each thread keeping its own
    connection to each registry alive: what no checker can do with fewer round trips."""
    def run(bed: NoopBed) -> None:
        connections = threading.local()
        path = REPOSITORY.split("/", 1)[1]
        heads = [(host, f"/v2/{name}/manifests/{tag(n)}") for n in range(TAGS)
                 for host, name in ((bed.upstream_host, f"docker.io/{path}"),
                                    (bed.mirror_host, REPOSITORY))]

        def head(where: tuple[str, str]) -> None:
            host, url = where
            if getattr(connections, host, None) is None:
                setattr(connections, host, http.client.HTTPConnection(host, timeout=30))
            connection = getattr(connections, host)
            connection.request("HEAD", url, headers={"Accept": ACCEPT})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"HEAD {url} on {host}: {response.status}")

        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            list(pool.map(head, heads))
    return run


@dataclass
class NoopTags:
    series: list[Series]
    load: str  # how busy the machine was meanwhile (bench/load.py)


def upstream_requests(upstream: Registry) -> dict[str, int]:
    """The upstream's requests since its last mark(), by method and kind (`HEAD manifests`,
    `GET referrers`, ...)."""
    kinds: dict[str, int] = {}
    for method, request_path, _ in upstream.requests():
        parts = request_path.split("?")[0].rstrip("/").split("/")
        kind = next((part for part in ("manifests", "referrers", "blobs", "tags")
                     if part in parts), "other")
        kinds[f"{method} {kind}"] = kinds.get(f"{method} {kind}", 0) + 1
    return kinds


def cpu_seconds() -> float:
    """CPU time of this process and of its children waited for (a mirror-bot run)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_noop_tags(work: Path) -> NoopTags:
    # label: (the checker, whether the requests go through the latency proxies)
    tools: dict[str, tuple[Callable[[NoopBed], None], bool]] = {}
    for jobs in JOBS:
        tools[f"mirror-bot sync --jobs {jobs}"] = mirror_bot(jobs), True
    for in_flight in (16, 64):
        tools[f"floor: 2 HEADs per tag, {in_flight} in flight"] = floor(in_flight), True
    tools[f"no delay: mirror-bot sync --jobs {JOBS[0]}"] = mirror_bot(JOBS[0]), False
    tools["no delay: floor, 64 in flight"] = floor(64), False
    series = {label: Series(label) for label in tools}
    with noop_bed(work) as bed, LoadSampler() as load:
        for run in range(RUNS):
            for label, (tool, delayed) in tools.items():
                bed.upstream.mark()
                cpu = cpu_seconds()
                started = time.perf_counter()
                tool(bed if delayed else bed.direct)
                series[label].seconds.append(time.perf_counter() - started)
                series[label].cpu.append(cpu_seconds() - cpu)
                if run == 0:
                    series[label].upstream = upstream_requests(bed.upstream)
    for item in series.values():
        print(f"  {item.label}: {item.median:.2f}s ({', '.join(f'{s:.2f}' for s in item.seconds)})",
              file=sys.stderr, flush=True)
    return NoopTags(list(series.values()), load.summary())


def render_noop_tags(result: NoopTags) -> str:
    lines = ["| tool | median s | runs (s) | its CPU s (median) | upstream requests |",
             "|---|---|---|---|---|"]
    for item in result.series:
        upstream = ", ".join(f"{count} {kind}" for kind, count in sorted(item.upstream.items()))
        lines.append(f"| {item.label} | {item.median:.2f} | "
                     f"{', '.join(f'{s:.2f}' for s in sorted(item.seconds))} | "
                     f"{statistics.median(item.cpu):.2f} | {upstream or '-'} |")
    return f"""## The no-op check at scale (`python -m bench.noop_tags`)

{TAGS:,} tags of `{REPOSITORY}`, all mirrored and unchanged (one 4-platform index put under every
tag on both registries); every request to either registry delayed {LATENCY * 1000:.0f} ms by the
HTTP-level proxy. `mirror-bot sync --jobs N` is given the {TAGS:,} references at once and timed
from process start to exit (every result `unchanged`); the floor is a plain client sending the
two manifest HEADs per tag (upstream and mirror) with 16 or 64 in flight, on kept-alive
connections, no process start. "No delay" rows send the same requests straight to the
registries: what the machine's CPU allows. "Its CPU" is the checker's own (user and system;
not the registries' or the proxies'). Medians of {RUNS} interleaved runs. Target: {TAGS:,} tags in
at most {TARGET_SECONDS:g} s with `--jobs 16`.
The machine meanwhile: {result.load}.

{chr(10).join(lines)}
"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mirror-bot-noop-") as folder:
        result = run_noop_tags(Path(folder))
    print(render_noop_tags(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
