"""`make demo`: the bot end to end on a local sandbox — no GitHub account, no internet.

Starts an upstream and a mirror registry on loopback, seeds a three-platform image under a
realistic name (docker.io/library/hello-mirror:1.0, served by the loopback upstream through a
registries.conf), feeds `issues.opened` events through the same `handle-event` code path as the
workflow (with the local forge instead of GitHub), each issue's title printed before the
comments the bot writes on it, then shows the mirrored image with skopeo. With --keep
(`make demo-keep`) the registries then stay up until Ctrl-C, and an env.sh says how to point
`mirror-bot plan` and `sync` at them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandbox.github_standin import GitHubStandIn
from sandbox.images import build_image, push
from sandbox.registries import start_registry, write_registries_conf

REPO_ROOT = Path(__file__).resolve().parents[1]
MIRROR_USER, MIRROR_PASSWORD = "demo-pusher", "demo-password-not-secret"


@dataclass(frozen=True)
class DemoIssue:
    title: str
    author: str
    what: str  # what the demo shows with it


ISSUES = (
    DemoIssue("docker.io/library/hello-mirror:1.0", "octocat", "an allowed image"),
    DemoIssue("docker pull evil.example.com/miner:latest", "mallory",
              "an image the allowlist denies"),
)


def banner(text: str) -> None:
    # Bold only on a terminal, and never with NO_COLOR set (https://no-color.org).
    bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(f"\n\033[1m== {text}\033[0m" if bold else f"\n== {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true",
                        help="keep the registries up afterwards (until Ctrl-C) to try the CLI on them")
    keep = parser.parse_args(argv).keep
    with tempfile.TemporaryDirectory(prefix="mirror-bot-demo-") as folder:
        work = Path(folder)
        upstream = start_registry(work / "upstream")
        mirror = start_registry(work / "mirror", {MIRROR_USER: MIRROR_PASSWORD})
        try:
            code = run(work, upstream, mirror)
            if keep and code == 0:
                serve(work, mirror)
            return code
        finally:
            upstream.stop()
            mirror.stop()


def serve(work: Path, mirror) -> None:  # type: ignore[no-untyped-def]
    """Say how to use the registries from another shell, then wait for Ctrl-C (or SIGTERM)."""
    variables = {
        "CONTAINERS_REGISTRIES_CONF": str(work / "registries.conf"),
        "MIRROR_REGISTRY": mirror.host, "MIRROR_USERNAME": MIRROR_USER,
        "MIRROR_PASSWORD": MIRROR_PASSWORD, "MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"),
        # The registries go when the demo ends: no cache entry may point into them afterwards.
        "MIRROR_BLOB_CACHE": "off",
    }
    env_file = work / "env.sh"
    env_file.write_text("".join(f"export {name}={shlex.quote(value)}\n"
                                for name, value in variables.items()))
    cli = shlex.quote(str(REPO_ROOT / ".venv" / "bin" / "mirror-bot"))
    banner("the registries stay up until Ctrl-C; try the CLI on them in another shell:")
    print(f". {shlex.quote(str(env_file))}\n"
          f"{cli} plan 'docker pull docker.io/library/hello-mirror:1.0'\n"
          f"{cli} sync docker.io/library/hello-mirror:1.0", flush=True)
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    signal.sigwait(stops)
    print("stopping the registries", flush=True)


def run(work: Path, upstream, mirror) -> int:  # type: ignore[no-untyped-def]
    banner(f"upstream registry on {upstream.host}, mirror registry on {mirror.host}")
    conf = write_registries_conf(work / "registries.conf", upstream.host, [mirror.host])
    print(f"registries.conf maps docker.io, ghcr.io, quay.io, registry.k8s.io onto {upstream.host}")

    banner("seeding docker.io/library/hello-mirror:1.0 (linux/amd64, linux/arm64, linux/arm/v7)")
    image = build_image(work / "oci", "1.0", seed="hello",
                        platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"),
                        layer_sizes=(256 * 1024, 64 * 1024))
    push(image, f"{upstream.host}/docker.io/library/hello-mirror:1.0")
    print(f"upstream digest: {image.index_digest}")

    standin = GitHubStandIn(repository="example/mirror")
    numbers = [standin.add_issue(issue.title, author=issue.author)["number"] for issue in ISSUES]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MIRROR_"))}
    env.update(
        CONTAINERS_REGISTRIES_CONF=str(conf), MIRROR_REGISTRY=mirror.host,
        MIRROR_USERNAME=MIRROR_USER, MIRROR_PASSWORD=MIRROR_PASSWORD,
        MIRROR_ALLOWLIST=str(REPO_ROOT / "allowlist.yaml"), GITHUB_EVENT_NAME="issues",
        GITHUB_REPOSITORY="example/mirror", GITHUB_RUN_ID="1",
    )
    forge = work / "forge"
    for number, issue in zip(numbers, ISSUES, strict=True):
        banner(f"issue #{number} opened by @{issue.author}, {issue.what} "
               "-> mirror-bot handle-event --local-forge")
        # The title first: the comments below answer it.
        print(f"title: {issue.title}", flush=True)
        event = work / f"event-{number}.json"
        event.write_text(json.dumps(standin.event("opened", number)))
        completed = subprocess.run(
            [sys.executable, "-m", "bot", "handle-event", "--local-forge", str(forge)],
            env={**env, "GITHUB_EVENT_PATH": str(event)}, cwd=REPO_ROOT, check=False)
        print(f"(exit code {completed.returncode})")

    banner(f"skopeo inspect of the mirrored image on {mirror.host}")
    auth = work / "auth.json"
    auth.write_text(json.dumps({"auths": {mirror.host: {"auth": __import__("base64").b64encode(
        f"{MIRROR_USER}:{MIRROR_PASSWORD}".encode()).decode()}}}))
    auth.chmod(0o600)
    target = f"docker://{mirror.host}/docker.io/library/hello-mirror:1.0"
    raw = subprocess.run(["skopeo", "--registries-conf", str(conf), "inspect", "--raw",
                          "--authfile", str(auth), target], capture_output=True, check=True).stdout
    index = json.loads(raw)
    digest = "sha256:" + __import__("hashlib").sha256(raw).hexdigest()
    for entry in index["manifests"]:
        platform = entry["platform"]
        print(f"  {platform['os']}/{platform['architecture']}"
              f"{'/' + platform['variant'] if platform.get('variant') else ''}  {entry['digest']}")
    print(f"mirror digest:   {digest}")
    print(f"upstream digest: {image.index_digest}")
    print("digests match" if digest == image.index_digest else "DIGESTS DIFFER")
    return 0 if digest == image.index_digest else 1


if __name__ == "__main__":
    raise SystemExit(main())
