"""What our own steps add between an issue event and the bot's first comment.

On a runner, the request workflow's job runs: checkout, setup-python, the environment of the
locked dependencies restored from the cache (built with `pip install --require-hashes` of
requirements/*.txt only when the lock changed), the package itself with `--no-deps`, skopeo
only when missing (it is on ubuntu-24.04), then `mirror-bot handle-event`, which posts the
"syncing" comment before it copies. The runner's queueing, checkout, setup-python and cache
restore are GitHub's; this measures ours, on this machine: (1) a fresh virtualenv and the
locked install with pip's cache warm (what a job pays when the lock changed), (1') the package
alone into an environment that already holds the dependencies (every other job), and (2)
`mirror-bot handle-event` from process start to the GitHub stand-in receiving its first
comment, for a request the allowlist admits (copied afterwards) and one it denies (answered at
once).

Run: `python -m bench.first_comment` (BENCH_RUNS, default 5). Prints medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox.github_standin import GitHubStandIn, serve
from sandbox.testbed import running_testbed

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
POLL = 0.005  # watching the stand-in's request log for the first POST, not synchronising


def locked_install(work: Path) -> tuple[float, float]:
    """Seconds for the whole locked install into a fresh environment, and for the package alone
    into that environment once it holds the dependencies (a restored one)."""
    venv = work / "venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", "requirements/runtime.txt", "-r",
                    "requirements/build.txt"], check=True, cwd=ROOT)
    package = [*pip, "--no-deps", "--no-build-isolation", str(ROOT)]
    subprocess.run(package, check=True, cwd=ROOT)
    whole = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(package, check=True, cwd=ROOT)
    return whole, time.perf_counter() - started


def first_comment(github: GitHubStandIn, env: dict[str, str], event: Path) -> float:
    github.reset_log()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bot", "handle-event"],
                               env={**env, "GITHUB_EVENT_PATH": str(event)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = None
    while process.poll() is None or seen is None:
        if seen is None and any(m == "POST" and p.endswith("/comments") for m, p in github.log):
            seen = time.perf_counter() - started
        if process.poll() is not None and seen is None:
            break
        time.sleep(POLL)
    process.wait()
    if seen is None:
        raise RuntimeError("handle-event posted no comment")
    return seen


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mirror-bot-first-comment-") as folder:
        work = Path(folder)
        installs = [locked_install(work / f"install-{n}") for n in range(RUNS)]
        with running_testbed(work / "bed") as bed, serve(GitHubStandIn()) as github:
            bed.seed("first-comment")
            env = bed.env(GITHUB_EVENT_NAME="issues", GITHUB_REPOSITORY=github.repository,
                          GITHUB_TOKEN=github.token, GITHUB_API_URL=github.base_url,
                          MIRROR_GITHUB_WRITE_INTERVAL="0")
            timings: dict[str, list[float]] = {"allowed (then copied)": [], "denied": []}
            for n in range(RUNS):
                for label, title in (("allowed (then copied)", f"first-comment:1.0 #{n}"),
                                     ("denied", "docker.io/library/forbidden:1")):
                    number = github.add_issue(title.split(" #")[0])["number"]
                    event = work / f"event-{number}.json"
                    event.write_text(json.dumps(github.event("opened", number)))
                    timings[label].append(first_comment(github, env, event))
    print(f"locked install into a fresh virtualenv, pip cache warm: "
          f"{statistics.median(w for w, _ in installs):.1f} s (median of {RUNS})")
    print(f"the package alone into a restored environment: "
          f"{statistics.median(p for _, p in installs):.1f} s (median of {RUNS})")
    for label, values in timings.items():
        print(f"handle-event to the first comment, {label}: "
              f"{statistics.median(values) * 1000:.0f} ms (median of {RUNS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
