"""mirror-bot against plain skopeo, side by side, on loopback registries (`make bench`).

Models the network with a latency proxy in front of the upstream and of the mirror (every
request delayed, default 20 ms; each proxy a process of its own), and images shaped like real
ones (4 platforms x 6 layers with shared base layers, plus an attestation manifest in the
index). Prints medians and ratios measured in the same run, the upstream manifest requests per
image (what Docker Hub counts as pulls) and blob GETs, GitHub API requests per handled issue and
start-up time; then the copies of bench/copies.py (with their upstream GETs, and (A) under a
TCP-level link model too) and the 1,000-tag no-op check of bench/noop_tags.py; writes
docs/benchmarks.md and a plot. Sizes are environment variables (BENCH_REPOS, BENCH_TAGS,
BENCH_RUNS, BENCH_LAYER_KIB, BENCH_LATENCY_MS, and bench/copies.py's and bench/noop_tags.py's).
"""

from __future__ import annotations

import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.copies import Copies, render_copies, run_copies
from bench.load import LoadSampler
from bench.noop_tags import NoopTags, render_noop_tags, run_noop_tags
from sandbox.fault_proxy import proxy_process
from sandbox.github_standin import GitHubStandIn, serve
from sandbox.images import build_image, push
from sandbox.registries import Registry, start_registry

ROOT = Path(__file__).resolve().parent.parent
REPOS = int(os.environ.get("BENCH_REPOS", "5"))
TAGS = int(os.environ.get("BENCH_TAGS", "2"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LATENCY = float(os.environ.get("BENCH_LATENCY_MS", "20")) / 1000
LAYER_KIB = [int(x) for x in os.environ.get("BENCH_LAYER_KIB", "1024,512,256,256,128,64").split(",")]
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x")
ALLOWLIST = "allow:\n  - docker.io/library/*\n"
BIN = Path(sys.executable).parent
ANALYSIS_MARKER = "<!-- analysis: kept across runs -->"
ERROR_MESSAGE_RE = re.compile(r'"message": "((?:[^"\\]|\\.)*)"')


@dataclass
class Image:
    name: str
    tag: str
    digest: str

    @property
    def source(self) -> str:
        return f"docker.io/library/{self.name}:{self.tag}"


@dataclass
class Bed:
    work: Path
    upstream: Registry
    upstream_host: str
    images: list[Image]
    latency: float
    stack: ExitStack
    conf: Path = field(init=False)
    mirror: Registry = field(init=False)
    mirror_host: str = field(init=False)
    mirror_proxy: ExitStack = field(default_factory=ExitStack)

    def new_mirror(self) -> None:
        self.mirror_proxy.close()
        if getattr(self, "mirror", None) is not None:
            self.mirror.stop()
        self.mirror = start_registry(Path(tempfile.mkdtemp(dir=self.work)))
        self.mirror_host = self.mirror.host
        if self.latency:
            self.mirror_host = self.mirror_proxy.enter_context(
                proxy_process(self.mirror.host, latency=self.latency))
        self.conf = self.work / f"registries-{self.mirror.port}.conf"
        self.conf.write_text(
            f'[[registry]]\nprefix = "docker.io"\nlocation = "{self.upstream_host}/docker.io"\n'
            f'insecure = true\n[[registry]]\nlocation = "{self.upstream_host}"\ninsecure = true\n'
            f'[[registry]]\nlocation = "{self.mirror_host}"\ninsecure = true\n')

    def env(self) -> dict[str, str]:
        allowlist = self.work / "allowlist.yaml"
        allowlist.write_text(ALLOWLIST)
        return {**{k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "GITHUB_"))},
                "CONTAINERS_REGISTRIES_CONF": str(self.conf), "MIRROR_REGISTRY": self.mirror_host,
                "MIRROR_ALLOWLIST": str(allowlist),
                # one blob-location cache per mirror, kept across that mirror's runs
                "MIRROR_BLOB_CACHE": str(self.work / f"blob-locations-{self.mirror.port}.json")}

    def target(self, image: Image) -> str:
        return f"{self.mirror_host}/{image.source}"


# -- the tools ----------------------------------------------------------------------------------

def skopeo_loop(bed: Bed, images: list[Image]) -> None:
    for image in images:
        subprocess.run(["skopeo", "--registries-conf", str(bed.conf), "copy", "--quiet", "--all",
                        "--preserve-digests", f"docker://{image.source}",
                        f"docker://{bed.target(image)}"], check=True, capture_output=True)


def skopeo_sync(bed: Bed, images: list[Image]) -> None:
    by_repo: dict[str, list[str]] = {}
    for image in images:
        by_repo.setdefault(f"library/{image.name}", []).append(image.tag)
    spec = bed.work / "sync.yaml"
    spec.write_text("docker.io:\n  tls-verify: false\n  images:\n" + "".join(
        f"    {repo}: [{', '.join(tags)}]\n" for repo, tags in by_repo.items()))
    subprocess.run(["skopeo", "--registries-conf", str(bed.conf), "sync", "--all",
                    "--preserve-digests", "--src", "yaml", "--dest", "docker",
                    "--dest-tls-verify=false", str(spec), f"{bed.mirror_host}/docker.io/library"],
                   check=True, capture_output=True)


def mirror_bot_sync(jobs: int) -> Callable[[Bed, list[Image]], None]:
    def run(bed: Bed, images: list[Image]) -> None:
        completed = subprocess.run([str(BIN / "mirror-bot"), "sync", "--json", "--jobs", str(jobs),
                                    *(i.source for i in images)], env=bed.env(),
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(completed.stdout + completed.stderr)
    return run


def mirror_bot_resync(jobs: int) -> Callable[[Bed, list[Image]], None]:
    def run(bed: Bed, images: list[Image]) -> None:
        index = bed.work / "index.json"
        index.write_text(json.dumps({"images": [
            {"source": i.source, "target": bed.target(i), "digest": i.digest} for i in images]}))
        completed = subprocess.run([str(BIN / "mirror-bot"), "resync", "--index", str(index),
                                    "--jobs", str(jobs), "--output", str(bed.work / "report.json")],
                                   env=bed.env(), capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(completed.stdout + completed.stderr)
    return run


# -- measuring ----------------------------------------------------------------------------------

@dataclass
class Measure:
    seconds: list[float] = field(default_factory=list)
    gets: float = 0.0
    heads: float = 0.0
    blob_gets: float = 0.0
    counted: bool = False  # the requests above are a successful run's
    failures: list[str] = field(default_factory=list)  # the error of each failed run

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def timed(bed: Bed, tool: Callable[[Bed, list[Image]], None], images: list[Image],
          measure: Measure) -> None:
    """One sample, its upstream requests counted in the first that succeeds. A run that fails
    is recorded as failed (with the first error it reported) and leaves no time: the bench
    goes on, and the report says so."""
    bed.upstream.mark()
    started = time.perf_counter()
    try:
        tool(bed, images)
    except RuntimeError as error:
        found = ERROR_MESSAGE_RE.search(str(error))
        measure.failures.append(found[1] if found else str(error).strip()[:300])
        print(f"  a run failed: {measure.failures[-1]}", file=sys.stderr, flush=True)
        return
    measure.seconds.append(time.perf_counter() - started)
    if not measure.counted:
        measure.counted = True
        requests = bed.upstream.manifest_requests()
        measure.gets = requests["GET"] / len(images)
        measure.heads = requests["HEAD"] / len(images)
        measure.blob_gets = sum(1 for method, path, _ in bed.upstream.requests()
                                if method == "GET" and "/blobs/sha256:" in path) / len(images)


def move_one_tag(bed: Bed, generation: int) -> Image:
    image = bed.images[0]
    built = build_image(bed.work / "moved" / str(generation), image.tag, seed=f"moved-{generation}",
                        platforms=PLATFORMS, layer_sizes=tuple(k * 1024 for k in LAYER_KIB),
                        shared_layers=2, attestation=True)
    push(built, f"{bed.upstream.host}/{image.source}")
    image.digest = built.index_digest
    return image


@contextmanager
def bed_with(latency: float, work: Path, upstream: Registry, images: list[Image]) -> Iterator[Bed]:
    with ExitStack() as stack:
        host = upstream.host
        if latency:
            host = stack.enter_context(proxy_process(upstream.host, latency=latency))
        bed = Bed(work, upstream, host, images, latency, stack)
        bed.new_mirror()
        try:
            yield bed
        finally:
            bed.mirror_proxy.close()
            bed.mirror.stop()


COLD_TOOLS = {"skopeo copy loop": skopeo_loop, "skopeo sync --src yaml": skopeo_sync,
              "mirror-bot sync --jobs 1": mirror_bot_sync(1),
              "mirror-bot sync --jobs 4": mirror_bot_sync(4)}
NOOP_TOOLS = {"skopeo copy loop": skopeo_loop, "skopeo sync --src yaml": skopeo_sync,
              "mirror-bot resync --jobs 1": mirror_bot_resync(1),
              "mirror-bot resync --jobs 4": mirror_bot_resync(4)}


def run_variant(latency: float, work: Path, upstream: Registry,
                images: list[Image]) -> dict[str, dict[str, Measure]]:
    """Runs are interleaved (run 1 of every tool, then run 2, ...) so that drift in the
    machine's state falls on every tool alike."""
    results: dict[str, dict[str, Measure]] = {
        "cold": {name: Measure() for name in COLD_TOOLS},
        "no-op": {name: Measure() for name in NOOP_TOOLS},
        "one moved tag": {name: Measure() for name in NOOP_TOOLS},
    }
    with bed_with(latency, work, upstream, images) as bed:
        for _ in range(RUNS):
            for name, tool in COLD_TOOLS.items():
                bed.new_mirror()
                timed(bed, tool, images, results["cold"][name])
        bed.new_mirror()
        mirror_bot_sync(1)(bed, images)  # sets up the no-op runs (untimed)
        for _ in range(RUNS):
            for name, tool in NOOP_TOOLS.items():
                timed(bed, tool, images, results["no-op"][name])
        generation = 0
        for _ in range(RUNS):
            for name, tool in NOOP_TOOLS.items():
                generation += 1
                move_one_tag(bed, int(latency * 1000) * 1000 + generation)
                timed(bed, tool, images, results["one moved tag"][name])
    for scenario, tools in results.items():
        for name, measure in tools.items():
            print(f"  {scenario} {name}: {measure.median:.2f}s", file=sys.stderr, flush=True)
    return results


def scaling(work: Path, upstream: Registry, images: list[Image]) -> dict[str, list[tuple[int, float]]]:
    """Time against number of images, with latency: cold and no-op, mirror-bot vs skopeo loop
    (medians of 3, interleaved)."""
    sizes = sorted({n for n in (1, 2, 4, 8, len(images)) if n <= len(images)})
    cold = {"skopeo copy loop": skopeo_loop, "mirror-bot sync --jobs 1": mirror_bot_sync(1)}
    noop = {"skopeo copy loop": skopeo_loop, "mirror-bot resync --jobs 1": mirror_bot_resync(1)}
    measures: dict[str, dict[int, Measure]] = {}
    with bed_with(LATENCY, work, upstream, images) as bed:
        for n in sizes:
            for _ in range(3):
                for label, tool in cold.items():
                    bed.new_mirror()
                    timed(bed, tool, images[:n], measures.setdefault(f"cold: {label}", {})
                          .setdefault(n, Measure()))
        bed.new_mirror()
        mirror_bot_sync(1)(bed, images)  # sets up the no-op runs (untimed)
        for n in sizes:
            for _ in range(3):
                for label, tool in noop.items():
                    timed(bed, tool, images[:n], measures.setdefault(f"no-op: {label}", {})
                          .setdefault(n, Measure()))
    return {label: [(n, m.median) for n, m in sorted(series.items())]
            for label, series in measures.items()}


def api_requests_per_issue(work: Path, upstream: Registry, images: list[Image]) -> int:
    from bot.commands.adapters import build_forge
    from bot.commands.request import request_handler
    from bot.config import load_config
    from bot.flows.events import Event
    from bot.flows.handle_event import handle

    with bed_with(0, work, upstream, images) as bed, serve(GitHubStandIn()) as github:
        github.add_issue(images[0].source)
        env = {**bed.env(), "GITHUB_REPOSITORY": github.repository, "GITHUB_TOKEN": github.token,
               "GITHUB_API_URL": github.base_url, "MIRROR_GITHUB_WRITE_INTERVAL": "0"}
        config = load_config(env)
        handler = request_handler(config, build_forge(config.github, config.bot_login))
        handler.log = open(os.devnull, "w")  # noqa: SIM115
        event = Event.from_payload("issues", github.event("opened", 1))
        assert event is not None
        outcome = handle(event, handler)
        assert outcome.name == "mirrored", outcome
        return len(github.log)


def startup() -> dict[str, float]:
    timings = {}
    for label, argv in (("mirror-bot --version", ["--version"]),
                        ("mirror-bot plan nginx", ["plan", "nginx"])):
        samples = []
        for _ in range(10):
            started = time.perf_counter()
            subprocess.run([str(BIN / "mirror-bot"), *argv], capture_output=True, check=True,
                           cwd=ROOT, env={**os.environ, "MIRROR_REGISTRY": "m.example.io"})
            samples.append(time.perf_counter() - started)
        timings[label] = statistics.median(samples)
    return timings


def seed(upstream: Registry, work: Path) -> list[Image]:
    images = []
    for repo in range(REPOS):
        for tag in range(TAGS):
            name, tag_name = f"bench-{repo}", f"v{tag}"
            built = build_image(work / "seed" / f"{name}-{tag_name}", tag_name, seed=f"{name}-{tag}",
                                platforms=PLATFORMS, layer_sizes=tuple(k * 1024 for k in LAYER_KIB),
                                shared_layers=2, attestation=True)
            push(built, f"{upstream.host}/docker.io/library/{name}:{tag_name}")
            images.append(Image(name, tag_name, built.index_digest))
    return images


def table(results: dict[float, dict[str, dict[str, Measure]]]) -> str:
    lines = ["| scenario | latency | tool | median s | vs skopeo loop | manifest GETs / image "
             "| HEADs / image | blob GETs / image |",
             "|---|---|---|---|---|---|---|---|"]
    failed: list[str] = []
    for latency, scenarios in results.items():
        for scenario, tools in scenarios.items():
            baseline = tools["skopeo copy loop"].median
            for name, measure in tools.items():
                lines.append(f"| {scenario} | {latency * 1000:.0f} ms | {name} | {measure.median:.2f} | "
                             f"{baseline / measure.median:.2f}x | {measure.gets:.1f} | {measure.heads:.1f} "
                             f"| {measure.blob_gets:.1f} |")
                if measure.failures:
                    failed.append(f"- {scenario}, {latency * 1000:.0f} ms, {name}: "
                                  f"{len(measure.failures)} of "
                                  f"{len(measure.failures) + len(measure.seconds)} runs failed "
                                  f"(left out of the median): {measure.failures[0]}")
    return "\n".join(lines + (["", *failed] if failed else []))


def plot(points: dict[str, list[tuple[int, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, series in points.items():
        axis = axes[0] if label.startswith("cold") else axes[1]
        axis.plot([n for n, _ in series], [s for _, s in series], marker="o",
                  label=label.split(": ", 1)[1])
    for axis, title in zip(axes, ("cold sync", "no-op resync"), strict=True):
        axis.set_title(f"{title}, {LATENCY * 1000:.0f} ms per request")
        axis.set_xlabel("images")
        axis.set_ylabel("seconds")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    if not shutil.which("skopeo") or not shutil.which("docker-registry"):
        print("bench: needs skopeo and docker-registry (make bench installs them)", file=sys.stderr)
        return 2
    # mirror-bot as a user runs it: `pip install` compiles its modules, and an editable
    # checkout under PYTHONDONTWRITEBYTECODE (set on some CI machines) would compile them again
    # at every start (~50 ms of a one-image sync) without this.
    compileall.compile_dir(ROOT / "bot", quiet=1)
    with tempfile.TemporaryDirectory(prefix="mirror-bot-bench-") as folder:
        work = Path(folder)
        upstream = start_registry(work / "upstream")
        try:
            print(f"seeding {REPOS} x {TAGS} images ({len(PLATFORMS)} platforms x {len(LAYER_KIB)} "
                  "layers + attestation)", file=sys.stderr, flush=True)
            images = seed(upstream, work)
            results = {}
            with LoadSampler() as load:
                for latency in (0.0, LATENCY):
                    print(f"latency {latency * 1000:.0f} ms", file=sys.stderr, flush=True)
                    results[latency] = run_variant(latency, work, upstream, images)
            points = scaling(work, upstream, images)
            api = api_requests_per_issue(work, upstream, images)
            start = startup()
            copies = run_copies(work, upstream)
            noop = run_noop_tags(work)
        finally:
            upstream.stop()
    report = render_report(results, load.summary(), points=points, api=api, start=start,
                           copies=copies, noop=noop)
    print(report)
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    plot(points, docs / "bench-scaling.png")
    target = docs / "benchmarks.md"
    # A hand-written analysis below the marker survives a new run.
    kept = target.read_text().partition(ANALYSIS_MARKER)[2] if target.exists() else ""
    target.write_text(report + (f"\n{ANALYSIS_MARKER}{kept}" if kept else ""))
    return 0


def commit() -> str:
    """The commit measured, and whether bot/ differed from it (others' work in progress)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "bot"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {head}" + (" with uncommitted changes to bot/" if changed else "")


def render_report(results: dict[float, dict[str, dict[str, Measure]]], load: str, *,
                  points: dict[str, list[tuple[int, float]]], api: int,
                  start: dict[str, float], copies: Copies, noop: NoopTags) -> str:
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{subprocess.run(['skopeo', '--version'], capture_output=True, text=True).stdout.strip()}")
    scale = "\n".join(f"| {label} | " + " | ".join(f"{n}: {s:.2f}s" for n, s in series) + " |"
                      for label, series in points.items())
    return f"""# Benchmarks: mirror-bot against plain skopeo

Generated by `make bench` (bench/run.py) at {commit()} on {machine}.
{REPOS} repositories x {TAGS} tags = {REPOS * TAGS} images; each an index of {len(PLATFORMS)} platforms
x {len(LAYER_KIB)} layers ({', '.join(f'{k} KiB' for k in LAYER_KIB)}; the first two shared by every
image of a platform) plus an attestation manifest. Real `docker-registry` processes on loopback;
"latency" puts a proxy in front of the upstream and of the mirror that delays every request by that
much. Medians of {RUNS} runs; ratios are the skopeo loop's median over the tool's (higher is faster),
measured in the same run. Manifest GETs are what Docker Hub counts as pulls; HEADs are free;
requests are counted upstream, from the registry's access log, in the first successful run of
each tool. mirror-bot runs with an allowlist without `max_image_size`.
The machine meanwhile: {load}.

{table(results)}

## Time against number of images ({LATENCY * 1000:.0f} ms latency)

![scaling](bench-scaling.png)

| series | points |
|---|---|
{scale}

## Other costs

- GitHub API requests for one handled `issues.opened` (a copy), counted by the stand-in: **{api}**
  (search for the per-user cap, create the comment, check it is the only one, edit it with the
  result, one PATCH for labels and state: three writes).
""" + "\n".join(f"- start-up, `{label}`: **{seconds * 1000:.0f} ms** (median of 10)"
                for label, seconds in start.items()) + f"""

{render_copies(copies)}
{render_noop_tags(noop)}
## Reproduce

```sh
make bench                                    # defaults above
BENCH_REPOS=30 BENCH_TAGS=2 BENCH_LAYER_KIB=8192,4096,2048,2048,1024,1024 make bench   # larger
BENCH_LARGE_MIB=200 BENCH_RATE_MIB=10 BENCH_COPY_RUNS=9 make bench   # a larger layer, a faster link
.venv/bin/python -m bench.copies              # the copies alone; BENCH_COPY_SCENARIOS=A,A-tcp picks some
.venv/bin/python -m bench.noop_tags           # the 1,000-tag no-op check alone; BENCH_NOOP_JOBS=16,64
```
"""


if __name__ == "__main__":
    raise SystemExit(main())
