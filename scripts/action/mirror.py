"""The action's sync step: images in; mirrored addresses, the `sync --json` result, and what a
later step needs to ask the same mirror (the allowlist, the mirror registry) out.

Rule: inputs arrive only through the environment the step sets (INPUT_IMAGES, INPUT_MIRROR_REGISTRY,
INPUT_ALLOWLIST, MIRROR_USERNAME, MIRROR_PASSWORD) and the runner's (GITHUB_OUTPUT, RUNNER_TEMP,
GITHUB_WORKSPACE, GITHUB_REPOSITORY_OWNER); images reach `mirror-bot sync` as arguments after `--`,
never through a shell. Without an allowlist input, a temporary one in RUNNER_TEMP allows exactly
the listed images (patterns written normalised); it stays for the job's later steps (the runner
empties RUNNER_TEMP when the job ends). `addresses` has one line per entry of `result.results`, in
order: the mirrored address, or an empty line for an image not mirrored (failed, deferred, denied,
invalid); never an address that does not serve the image. The outputs are written even when an
image fails; the exit code is `mirror-bot sync`'s (0 all mirrored, 1 any not, 2 bad input).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bot.copy.model import SERVING
from bot.errors import InvalidReference
from bot.image import reference

TAG_GLOB = re.compile(r"[*?\[]")


def split_images(text: str) -> list[str]:
    """`images` is newline- or space-separated."""
    return text.split()


def default_mirror(owner: str) -> str:
    """GHCR of the calling repository's owner (GHCR wants lowercase names)."""
    return f"ghcr.io/{owner.lower()}"


def allowlist_pattern(image: str) -> str | None:
    """The normalised allowlist pattern that allows exactly `image`, or None if it is not valid.

    `nginx:1.27` -> `docker.io/library/nginx:1.27`; a digest alone -> the repository (any tag);
    a tag pattern (`nginx:1.27.*`) stays a tag glob.
    """
    name, glob = image, None
    colon = image.rfind(":")
    if "@" not in image and colon > image.rfind("/") and TAG_GLOB.search(image[colon + 1:]):
        name, glob = image[:colon], image[colon + 1:]
    try:
        parsed = reference.parse(name if glob is None else f"{name}:pattern")
    except InvalidReference:
        return None
    tag = glob if glob is not None else parsed.tag
    return f"{parsed.name}:{tag}" if tag else parsed.name


def write_allowlist(images: list[str], folder: Path) -> Path:
    patterns = sorted({p for p in map(allowlist_pattern, images) if p})
    handle, name = tempfile.mkstemp(prefix="mirror-bot-allowlist-", suffix=".yaml", dir=folder)
    with os.fdopen(handle, "w") as file:
        file.write("# Written by the mirror-bot action: exactly the images of this step.\nallow:\n")
        file.writelines(f"  - {json.dumps(pattern)}\n" for pattern in patterns)
        if not patterns:
            file.write("  []\n")
    return Path(name)


def write_output(path: str, name: str, value: str) -> None:
    """Append a (possibly multi-line) step output with a delimiter the value cannot contain."""
    delimiter = f"mirror_bot_{secrets.token_hex(16)}"
    with open(path, "a") as file:
        file.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def addresses(result: dict) -> list[str]:
    """One line per result, in order: its target when it was mirrored, else empty."""
    return [str(entry.get("target") or "") if entry.get("status") in SERVING else ""
            for entry in result.get("results", [])]


def run_sync(images: list[str], env: dict[str, str]) -> tuple[int, dict]:
    completed = subprocess.run([sys.executable, "-m", "bot", "sync", "--json", "--", *images],
                               env=env, stdout=subprocess.PIPE, text=True, check=False)
    try:
        return completed.returncode, json.loads(completed.stdout)
    except json.JSONDecodeError:
        return completed.returncode or 2, {"results": []}


def main(environ: Mapping[str, str]) -> int:
    images = split_images(environ.get("INPUT_IMAGES", ""))
    if not images:
        print("::error::mirror-bot action: `images` is empty; list the images to mirror")
        return 2
    env = dict(environ)
    mirror = (environ.get("INPUT_MIRROR_REGISTRY", "").strip()
              or default_mirror(environ.get("GITHUB_REPOSITORY_OWNER", "")))
    env["MIRROR_REGISTRY"] = mirror
    if environ.get("INPUT_ALLOWLIST", "").strip():
        workspace = Path(environ.get("GITHUB_WORKSPACE") or ".").absolute()
        allowlist = workspace / environ["INPUT_ALLOWLIST"].strip()
        if not allowlist.is_file():
            print(f"::error::mirror-bot action: allowlist {environ['INPUT_ALLOWLIST'].strip()!r} "
                  "not found in the repository; check the `allowlist` input")
            return 2
    else:
        folder = Path(environ.get("RUNNER_TEMP") or tempfile.gettempdir()).absolute()
        allowlist = write_allowlist(images, folder)
    env["MIRROR_ALLOWLIST"] = str(allowlist)
    code, result = run_sync(images, env)
    output = environ["GITHUB_OUTPUT"]
    write_output(output, "addresses", "\n".join(addresses(result)))
    write_output(output, "result", json.dumps(result, separators=(",", ":")))
    write_output(output, "allowlist", str(allowlist))
    write_output(output, "mirror-registry", mirror)
    return code


if __name__ == "__main__":
    sys.exit(main(os.environ))
