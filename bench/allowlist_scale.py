"""How the allowlist scales: matching, `plan` and `check-allowlist` with large, realistic files.

Targets (issue "Requests read as people write them", Scale of the allowlist): matching one
reference costs about the same with 10 or 100,000 entries; `mirror-bot plan nginx` with a
10,000-entry allowlist under 300 ms end to end (process start included); `check-allowlist` of
100,000 entries under 10 s. The generated entries look like peers' allow lists: literal
repositories on several registries (some nested, some with a tag glob or one exact tag),
namespace wildcards (`*`, `**`), and deny rules with tag globs; every entry distinct and none
shadowed, so `check-allowlist` does all of its work and says ok.

Run: `python -m bench.allowlist_scale [--json FILE]` (sizes: BENCH_ALLOWLIST_SIZES, default
10,1000,10000,100000; runs per end-to-end figure: BENCH_RUNS, default 5). Prints a table; with
--json also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.image.reference import parse
from bot.policy.allowlist_file import parse_allowlist

ROOT = Path(__file__).resolve().parent.parent
SIZES = [int(n) for n in os.environ.get("BENCH_ALLOWLIST_SIZES", "10,1000,10000,100000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
REGISTRIES = ("docker.io", "ghcr.io", "quay.io", "gcr.io", "registry.example.com:5000")
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zen", "pi", "dex", "ops", "io", "cloud", "lab")
DECISIONS = 20_000
REFERENCES = (
    "nginx",                                        # allowed by the wildcard at the end of the file
    "docker.io/library/nginx:1.27-rc1",             # denied by a tag-glob deny rule
    "ghcr.io/nowhere/nothing:1.0",                  # in no rule: every bucket is looked at
    "quay.io/katalo/mine@sha256:" + "a" * 64,       # a digest, checked against every deny glob
)


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)) + str(rng.randrange(1000))


def generate(size: int, seed: int = 7) -> str:
    """An allowlist of `size` allow entries (plus about size/20 deny entries), all distinct."""
    rng = random.Random(seed)  # noqa: S311  (test data, not secrets)
    allow: dict[str, None] = {}
    wildcard_namespaces: set[tuple[str, str]] = set()
    literal_namespaces: set[tuple[str, str]] = set()
    while len(allow) < size - 1:
        registry = rng.choice(REGISTRIES)
        namespace = _name(rng, 2)
        roll = rng.random()
        if (registry, namespace) in wildcard_namespaces:
            continue
        if roll < 0.15:
            if (registry, namespace) not in literal_namespaces:
                allow[f"{registry}/{namespace}/{rng.choice(['*', '**'])}"] = None
                wildcard_namespaces.add((registry, namespace))
            continue
        literal_namespaces.add((registry, namespace))
        repository = f"{namespace}/{_name(rng, 2)}"
        if roll < 0.25:
            repository += f"/{_name(rng, 1)}"
        suffix = ""
        if 0.25 <= roll < 0.35:
            suffix = f":{rng.choice(['v', ''])}{rng.randrange(1, 9)}.*"
        elif 0.35 <= roll < 0.42:
            suffix = f":{rng.randrange(1, 9)}.{rng.randrange(30)}.{rng.randrange(10)}"
        allow[f"{registry}/{repository}{suffix}"] = None
    allow["docker.io/library/*"] = None
    deny = {f"{rng.choice(REGISTRIES)}/{_name(rng, 2)}/*:*-rc*": None for _ in range(size // 20)}
    deny["docker.io/library/*:*-rc*"] = None
    deny["quay.io/katalo/*:*-debug"] = None
    lines = ["allow:", *(f"  - {entry}" for entry in allow), "deny:", *(f"  - {entry}" for entry in deny)]
    return "\n".join(lines) + "\n"


def matching_cost(text: str) -> tuple[float, float]:
    """(seconds to parse the text in-process, microseconds per decision)."""
    started = time.perf_counter()
    allowlist, problems = parse_allowlist(text)
    parsed = time.perf_counter() - started
    assert not problems, problems[:3]
    refs = [parse(r) for r in REFERENCES]
    for ref in refs:  # build the indexes outside the timed loop
        allowlist.decide(ref)
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for index in range(DECISIONS):
            allowlist.decide(refs[index % len(refs)])
        rounds.append((time.perf_counter() - started) / DECISIONS * 1e6)
    return parsed, statistics.median(rounds)


def end_to_end(args: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, int]:
    """(median wall seconds, exit code) of `python -m bot ARGS`, process start included."""
    times, code = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                                   env=env, cwd=ROOT, check=False)
        times.append(time.perf_counter() - started)
        code = completed.returncode
    return statistics.median(times), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures: dict[str, object] = {"runs": RUNS, "matching": []}
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MIRROR_REGISTRY": "m.example.io"}
        figures["python_start_s"] = end_to_end(["--version"], env)[0]
        print(f"{'entries':>8} {'load (in-process)':>18} {'per decision':>13} "
              f"{'plan nginx':>11} {'check-allowlist':>16}")
        for size in SIZES:
            text = generate(size)
            path = Path(work) / f"allowlist-{size}.yaml"
            path.write_text(text)
            parsed, per_decision = matching_cost(text)
            env["MIRROR_ALLOWLIST"] = str(path)
            plan, plan_code = end_to_end(["plan", "nginx"], env)
            check, check_code = end_to_end(["check-allowlist", str(path)], env,
                                           runs=RUNS if size <= 10_000 else 1)
            assert (plan_code, check_code) == (0, 0), (plan_code, check_code)
            figures["matching"].append({  # type: ignore[union-attr]
                "entries": size, "load_s": parsed, "decision_us": per_decision,
                "plan_s": plan, "check_s": check})
            print(f"{size:>8} {parsed * 1000:>15.1f} ms {per_decision:>10.1f} µs "
                  f"{plan * 1000:>8.0f} ms {check:>14.2f} s")
    print(f"(python -m bot --version alone: {figures['python_start_s'] * 1000:.0f} ms; "
          f"medians of {RUNS}, check-allowlist above 10,000 entries once)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
