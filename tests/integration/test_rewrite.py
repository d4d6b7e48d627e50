"""`mirror-bot rewrite` end to end: golden files rewritten against the real loopback registries.

The golden files (tests/data/rewrite) name images this module seeds upstream; all but
`rw-cache` are mirrored with the real syncer first. `mirror.test` in them stands for the
mirror's address and WEB_DIGEST for rw-web:1.0's index digest. Every reference they leave
upstream is named on stderr (`FILE:LINE: reference — why`), and `--check` fails on them.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.copy.model import SyncItem
from bot.image.reference import parse
from sandbox.images import build_image, push
from sandbox.registries import free_port, start_registry
from sandbox.token_auth import TokenServer, serve_tokens
from tests.fixtures import DATA, REPO_ROOT, Sandbox

GOLDEN = DATA / "rewrite"
FILES = ("manifests.yaml", "compose.yaml", "Dockerfile", "values.yaml")
MIRRORED = ("docker.io/library/rw-web:1.0", "docker.io/library/rw-base:latest",
            "docker.io/team/rw-api:2.1", "ghcr.io/acme/rw-tool:v1", "quay.io/acme/rw-db:15",
            "registry.k8s.io/rw/pause:3.9")
UNMIRRORED = "docker.io/library/rw-cache:7"


@dataclass(frozen=True)
class Bed:
    testbed: Sandbox
    web_digest: str

    def golden(self, kind: str, name: str) -> str:
        text = (GOLDEN / kind / name).read_text()
        return text.replace("mirror.test", self.testbed.mirror.host).replace(
            "WEB_DIGEST", self.web_digest.removeprefix("sha256:"))

    def copy_inputs(self, directory: Path, names: tuple[str, ...] = FILES) -> list[Path]:
        paths = []
        for name in names:
            path = directory / name
            path.write_text(self.golden("input", name))
            paths.append(path)
        return paths

    def run(self, directory: Path, *args: str, stdin: str | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "rewrite", *args], cwd=directory,
                              env=self.testbed.env(PYTHONPATH=str(REPO_ROOT), **env), input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def bed(testbed: Sandbox) -> Bed:
    images = {}
    for text in (*MIRRORED, UNMIRRORED):
        ref = parse(text)
        prefix, _, name = ref.name.partition("/")
        if prefix == "docker.io":
            name = name.removeprefix("library/")
        images[text] = testbed.seed(name, ref.tag or "latest", prefix=prefix)
    namer, syncer = testbed.config().namer, testbed.syncer()
    for text in MIRRORED:
        result = syncer.sync(SyncItem(parse(text), namer.target(parse(text))))
        assert result.status == "copied", result.error
    return Bed(testbed, images["docker.io/library/rw-web:1.0"].index_digest)


@pytest.mark.parametrize("name", FILES)
def test_golden_file_is_rewritten_in_place(bed: Bed, tmp_path: Path, name: str) -> None:
    [path] = bed.copy_inputs(tmp_path, (name,))
    completed = bed.run(tmp_path, name)
    assert completed.returncode == 0, completed.stderr
    assert path.read_bytes() == bed.golden("expected", name).encode()
    assert f"rewrote {name}:" in completed.stderr


def test_second_rewrite_changes_nothing(bed: Bed, tmp_path: Path) -> None:
    paths = bed.copy_inputs(tmp_path)
    assert bed.run(tmp_path, *FILES).returncode == 0
    first = [path.read_bytes() for path in paths]
    again = bed.run(tmp_path, *FILES)
    assert again.returncode == 0, again.stderr
    assert [path.read_bytes() for path in paths] == first
    assert "rewrote" not in again.stderr
    checked = bed.run(tmp_path, "--check", *FILES)
    assert checked.returncode == 1  # nothing would change, but references stay upstream
    assert "would rewrite" not in checked.stderr
    assert "would change" not in checked.stderr
    counted = [line for line in UPSTREAM if not line.endswith(MARKED)]
    assert checked.stderr.splitlines()[-1].startswith(f"{len(counted)} reference(s) would stay upstream")


NOT_MIRRORED = f"not mirrored; request it by opening an issue titled {UNMIRRORED}"
MARKED = "marked # mirror-bot: ignore"
# Every reference the golden files leave upstream, in the order of FILES, then of their lines.
UPSTREAM = [
    f"manifests.yaml:20: rw-cache:7 — {NOT_MIRRORED}",
    "manifests.yaml:65: forbidden:1 — not allowed: denied by rule 'docker.io/library/forbidden' "
    "(allowlist.yaml:10); to have it mirrored, propose it in a pull request to allowlist.yaml",
    "manifests.yaml:67: example.com/other/app:1 — not allowed: example.com/other/app is not in "
    "allowlist.yaml; to have it mirrored, propose it in a pull request to allowlist.yaml",
    "manifests.yaml:69: ${IMAGE} — a variable or template: its value is known only when the file "
    "is used",
    f"compose.yaml:16: rw-cache:7 — {NOT_MIRRORED}",
    "compose.yaml:18: ${TOOL_IMAGE:-ghcr.io/acme/rw-tool:v1} — a variable or template: its value "
    "is known only when the file is used",
    f"Dockerfile:22: rw-cache:7 — {NOT_MIRRORED}",
    f"Dockerfile:24: docker.io/team/rw-api:2.1 — {MARKED}",
    "values.yaml:18: rw-web:1.0 — no registry beside it while other images here have one: the "
    "chart may supply its own; set registry to rewrite it",
    "values.yaml:22: rw-web — no tag in these values: the chart supplies it (often its "
    "appVersion); set tag to rewrite it",
    f"values.yaml:31: docker.io/library/rw-cache:7 — {NOT_MIRRORED}",
    f"values.yaml:37: docker.io/team/rw-api:2.1 — {MARKED}",
]


def test_every_reference_left_upstream_is_named_once_with_why(bed: Bed, tmp_path: Path) -> None:
    bed.copy_inputs(tmp_path)
    completed = bed.run(tmp_path, *FILES)
    assert completed.returncode == 0  # without --check, what stays upstream is only named
    assert [line for line in completed.stderr.splitlines() if not line.startswith("rewrote ")] == (
        UPSTREAM)


def test_one_head_per_distinct_reference_at_the_mirror(bed: Bed, tmp_path: Path) -> None:
    bed.copy_inputs(tmp_path)
    bed.testbed.mirror.mark()
    bed.testbed.upstream.mark()
    assert bed.run(tmp_path, *FILES).returncode == 0
    answered = [(method, path) for method, path, status in bed.testbed.mirror.requests()
                if "/manifests/" in path and status != 401]
    # rw-web:1.0, rw-web@digest, rw-base, rw-api, rw-tool, rw-db, pause, rw-cache
    assert len(answered) == len(set(answered)) == 8
    assert {method for method, _ in answered} == {"HEAD"}
    assert bed.testbed.upstream.requests() == []


def test_check_exits_1_when_a_file_would_change_and_changes_nothing(bed: Bed, tmp_path: Path) -> None:
    paths = bed.copy_inputs(tmp_path)
    completed = bed.run(tmp_path, "--check", *FILES)
    assert completed.returncode == 1
    assert [path.read_text() for path in paths] == [bed.golden("input", name) for name in FILES]
    assert "would rewrite Dockerfile: 6 references" in completed.stderr
    assert "4 file(s) would change" in completed.stderr
    assert completed.stderr.splitlines()[:len(UPSTREAM)] == UPSTREAM
    assert completed.stdout == ""


def test_check_passes_when_nothing_would_change_and_nothing_stays_upstream(
        bed: Bed, tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("a:\n  image: rw-web:1.0\nb:\n  image: rw-cache:7   # mirror-bot: ignore\n"
                    "c:\n  image: example.com/other/app:1 # mirror-bot: ignore (a vendor's own)\n")
    assert bed.run(tmp_path, "--check", "deploy.yaml").returncode == 1  # rw-web would change
    assert bed.run(tmp_path, "deploy.yaml").returncode == 0
    completed = bed.run(tmp_path, "--check", "deploy.yaml")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines() == [
        f"deploy.yaml:4: rw-cache:7 — {MARKED}", f"deploy.yaml:6: example.com/other/app:1 — {MARKED}"]
    path.write_text(path.read_text().replace("   # mirror-bot: ignore", ""))
    completed = bed.run(tmp_path, "--check", "deploy.yaml")
    assert completed.returncode == 1
    assert completed.stderr.splitlines()[0] == f"deploy.yaml:4: rw-cache:7 — {NOT_MIRRORED}"


def test_diff_prints_a_patch_that_git_applies_and_changes_nothing(bed: Bed, tmp_path: Path) -> None:
    paths = bed.copy_inputs(tmp_path)
    completed = bed.run(tmp_path, "--diff", *FILES)
    assert completed.returncode == 0, completed.stderr
    assert [path.read_text() for path in paths] == [bed.golden("input", name) for name in FILES]
    assert completed.stdout.startswith("--- a/manifests.yaml\n+++ b/manifests.yaml\n")
    patch = tmp_path / "rewrite.patch"
    patch.write_text(completed.stdout)
    applied = subprocess.run(["git", "apply", "--unsafe-paths", str(patch)], cwd=tmp_path,
                             capture_output=True, text=True, check=False)
    assert applied.returncode == 0, applied.stderr
    assert [path.read_text() for path in paths] == [bed.golden("expected", name) for name in FILES]


def test_unreachable_mirror_exits_2_and_changes_nothing(bed: Bed, tmp_path: Path) -> None:
    paths = bed.copy_inputs(tmp_path)
    nowhere = f"127.0.0.1:{free_port()}"
    for mode in ((), ("--check",), ("--diff",)):
        completed = bed.run(tmp_path, *mode, *FILES, MIRROR_REGISTRY=nowhere, MIRROR_TIMEOUT="5")
        assert completed.returncode == 2, (mode, completed.stderr)
        [line] = completed.stderr.splitlines()
        assert line.startswith(f"mirror-bot rewrite: cannot tell whether {nowhere}/")
        assert "nothing was changed" in line
        assert completed.stdout == ""
    assert [path.read_text() for path in paths] == [bed.golden("input", name) for name in FILES]


def test_all_rewrites_every_allowed_reference_without_asking(bed: Bed, tmp_path: Path) -> None:
    [path] = bed.copy_inputs(tmp_path, ("compose.yaml",))
    nowhere = f"127.0.0.1:{free_port()}"
    completed = bed.run(tmp_path, "--all", "compose.yaml", MIRROR_REGISTRY=nowhere)
    assert completed.returncode == 0, completed.stderr
    text = path.read_text()
    assert f"image: {nowhere}/docker.io/library/rw-cache:7   # an environment" not in text
    assert f"  cache:\n    image: {nowhere}/docker.io/library/rw-cache:7\n" in text
    assert f"image: \"{nowhere}/docker.io/team/rw-api:2.1\"" in text


def test_standard_input_to_standard_output(bed: Bed, tmp_path: Path) -> None:
    completed = bed.run(tmp_path, "-", stdin=bed.golden("input", "Dockerfile"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == bed.golden("expected", "Dockerfile")


def test_invalid_yaml_exits_2_naming_file_and_line_and_changes_nothing(bed: Bed, tmp_path: Path) -> None:
    [good] = bed.copy_inputs(tmp_path, ("compose.yaml",))
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nspec:\n  image: [nginx\n")
    completed = bed.run(tmp_path, "compose.yaml", "broken.yaml")
    assert completed.returncode == 2
    [line] = completed.stderr.splitlines()
    assert line.startswith("mirror-bot rewrite: broken.yaml:5: invalid YAML: ")
    assert good.read_text() == bed.golden("input", "compose.yaml")


def test_unreadable_file_exits_2_and_changes_nothing(bed: Bed, tmp_path: Path) -> None:
    [good] = bed.copy_inputs(tmp_path, ("Dockerfile",))
    completed = bed.run(tmp_path, "Dockerfile", "missing.yaml")
    assert completed.returncode == 2
    assert completed.stderr == "mirror-bot rewrite: missing.yaml: cannot read: No such file or directory\n"
    assert good.read_text() == bed.golden("input", "Dockerfile")


def test_file_mode_and_symbolic_link_are_kept(bed: Bed, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    [target] = bed.copy_inputs(real, ("values.yaml",))
    target.chmod(0o640)
    link = tmp_path / "values.yaml"
    link.symlink_to(target)
    completed = bed.run(tmp_path, "values.yaml")
    assert completed.returncode == 0, completed.stderr
    assert link.is_symlink()
    assert target.read_text() == bed.golden("expected", "values.yaml")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in real.iterdir()) == ["values.yaml"]  # no temporary file left


def test_mirror_with_a_path_splits_helm_registry_and_repository(bed: Bed, tmp_path: Path) -> None:
    mirror = f"{bed.testbed.mirror.host}/team-mirror"
    namer, syncer = bed.testbed.config(MIRROR_REGISTRY=mirror).namer, bed.testbed.syncer()
    source = parse("docker.io/team/rw-api:2.1")
    assert syncer.sync(SyncItem(source, namer.target(source))).status == "copied"
    [path] = bed.copy_inputs(tmp_path, ("values.yaml",))
    completed = bed.run(tmp_path, "values.yaml", MIRROR_REGISTRY=mirror)
    assert completed.returncode == 0, completed.stderr
    assert (f"image:\n  registry: {bed.testbed.mirror.host}\n"
            "  repository: team-mirror/docker.io/team/rw-api\n  tag: \"2.1\"\n") in path.read_text()


def test_mirror_refusing_every_look_up_exits_2(bed: Bed, tmp_path: Path) -> None:
    bed.copy_inputs(tmp_path, ("compose.yaml",))
    for password in ("", "wrong-password"):
        completed = bed.run(tmp_path, "--check", "compose.yaml", MIRROR_PASSWORD=password)
        assert completed.returncode == 2, completed.stderr
        assert completed.stderr.startswith("mirror-bot rewrite: cannot tell whether any image is mirrored: "
                                           f"{bed.testbed.mirror.host} refused all 3 look-up(s)")


class GhcrLikeTokens(TokenServer):
    """GHCR's anonymous pulls: a token for public repositories, 401 for any other, nonexistent
    ones included, so "not mirrored" and "private" look the same."""

    public = ("owner/docker.io/library/rw-web",)

    def token(self, scope: str, authorization: str | None) -> tuple[int, dict]:
        if scope.split(":")[1] not in self.public:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return super().token(scope, authorization)


def test_refused_look_ups_are_not_mirrored_when_the_mirror_answers_others(
        bed: Bed, tmp_path: Path) -> None:
    with serve_tokens(GhcrLikeTokens(tmp_path / "tokens")) as tokens:
        registry = start_registry(tmp_path / "ghcr", auth_config=tokens.registry_auth_config())
        try:
            _, grant = tokens.token(f"repository:{GhcrLikeTokens.public[0]}:pull,push", None)
            image = build_image(tmp_path / "oci", "1.0", seed="ghcr-like")
            push(image, f"{registry.host}/{GhcrLikeTokens.public[0]}:1.0", token=grant["token"])
            conf = tmp_path / "registries.conf"
            conf.write_text(bed.testbed.registries_conf.read_text()
                            + f'\n[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
            env = {"CONTAINERS_REGISTRIES_CONF": str(conf), "MIRROR_REGISTRY": f"{registry.host}/owner",
                   "MIRROR_USERNAME": "", "MIRROR_PASSWORD": ""}
            (tmp_path / "both.yaml").write_text("a:\n  image: rw-web:1.0\nb:\n  image: rw-cache:7\n")
            (tmp_path / "cache.yaml").write_text("b:\n  image: rw-cache:7\n")
            both = bed.run(tmp_path, "both.yaml", **env)
            alone = bed.run(tmp_path, "cache.yaml", **env)
        finally:
            registry.stop()
    assert both.returncode == 0, both.stderr
    assert (tmp_path / "both.yaml").read_text() == (
        f"a:\n  image: {registry.host}/owner/docker.io/library/rw-web:1.0\nb:\n  image: rw-cache:7\n")
    assert ("both.yaml:4: rw-cache:7 — not mirrored (the mirror refused the look-up: not mirrored, "
            "or not visible with these credentials); request it by opening an issue titled "
            f"{UNMIRRORED}") in both.stderr.splitlines()
    assert alone.returncode == 2
    assert "refused all 1 look-up(s)" in alone.stderr


def test_files_outside_the_working_directory_are_refused(bed: Bed, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    [good] = bed.copy_inputs(work, ("compose.yaml",))
    [outside] = bed.copy_inputs(tmp_path, ("values.yaml",))
    (work / "linked.yaml").symlink_to(outside)
    for name in ("linked.yaml", "../values.yaml", str(outside)):
        completed = bed.run(work, "compose.yaml", name)
        assert completed.returncode == 2
        assert completed.stderr == (f"mirror-bot rewrite: {name}: resolves outside the current "
                                    "directory (a symbolic link or a path that leaves it); nothing "
                                    "was changed; run rewrite from a directory that holds the file\n")
    assert good.read_text() == bed.golden("input", "compose.yaml")
    assert outside.read_text() == bed.golden("input", "values.yaml")


def test_yaml_nested_too_deep_is_one_line_and_exit_2(bed: Bed, tmp_path: Path) -> None:
    for name, text in (("bom.yaml", "\ufeffa: " + "[" * 5000 + "]" * 5000 + "\n"),
                       ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")):
        (tmp_path / name).write_text(text)
        for mode in ((), ("--check",)):
            completed = bed.run(tmp_path, *mode, name)
            assert completed.returncode == 2
            assert completed.stderr == (f"mirror-bot rewrite: {name}: nested too deep to read "
                                        "safely; nothing was changed\n")
