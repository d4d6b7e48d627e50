"""`rewrite --check` as a gate, the `# mirror-bot: ignore` mark, and hostile files.

Exit codes: 0 when nothing would change and nothing stays upstream (or only what is marked),
1 when a file would change or an unmarked reference stays upstream, 2 (RewriteError) when it
cannot tell. Without --check, what stays upstream is named and the exit code is 0.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.flows.rewrite import Checker, Mode, Streams, rewrite_files, shown
from bot.image.reference import Reference
from bot.rewrite.formats import Format
from bot.rewrite.model import RewriteError

MIRROR = "m.example.io"
ALLOWLIST = "allow:\n  - docker.io/library/*\n"
MARKED = "marked # mirror-bot: ignore"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    allowlist = tmp_path_factory.mktemp("gate") / "allowlist.yaml"
    allowlist.write_text(ALLOWLIST)
    return load_config({"MIRROR_REGISTRY": MIRROR, "MIRROR_ALLOWLIST": str(allowlist)})


def mirrored(*names: str) -> Checker:
    """A mirror that holds exactly `names` (their mirrored addresses)."""
    def checker(target: Reference) -> str | None:
        return "sha256:" + "0" * 64 if str(target) in {f"{MIRROR}/{name}" for name in names} else None
    return checker


def run(config: Config, root: Path, *names: str, mode: Mode = Mode.CHECK,
        checker: Checker | None = None) -> tuple[int, list[str]]:
    err = io.StringIO()
    code = rewrite_files(list(names), mode=mode, config=config, checker=checker, root=root,
                         streams=Streams(None, io.BytesIO(), err))
    return code, err.getvalue().splitlines()


# -- the gate -----------------------------------------------------------------------------------

def test_check_fails_on_references_staying_upstream_even_when_no_file_would_change(
        config: Config, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a:\n  image: nginx:1.27\nb:\n  image: ghcr.io/x/y:1\n")
    checker = mirrored()  # the mirror holds nothing yet
    code, messages = run(config, tmp_path, "a.yaml", checker=checker)
    assert code == 1
    assert messages == [
        "a.yaml:2: nginx:1.27 — not mirrored; request it by opening an issue titled "
        "docker.io/library/nginx:1.27",
        "a.yaml:4: ghcr.io/x/y:1 — not allowed: ghcr.io/x/y is not in allowlist.yaml; to have it "
        "mirrored, propose it in a pull request to allowlist.yaml",
        "2 reference(s) would stay upstream (named above): request or allow them, or mark each "
        "# mirror-bot: ignore",
    ]
    for mode in (Mode.WRITE, Mode.DIFF):  # named, and exit 0
        code, messages = run(config, tmp_path, "a.yaml", mode=mode, checker=checker)
        assert code == 0
        assert len(messages) == 2


def test_check_passes_when_every_reference_is_mirrored_or_marked(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(f"a:\n  image: {MIRROR}/docker.io/library/nginx:1.27\n"
                    "b:\n  image: ghcr.io/x/y:1  # mirror-bot: ignore\n"
                    "c:\n  image: ${IMAGE}   # mirror-bot: ignore   (set by the pipeline)\n")
    code, messages = run(config, tmp_path, "a.yaml", checker=mirrored())
    assert code == 0
    assert messages == [f"a.yaml:4: ghcr.io/x/y:1 — {MARKED}",
                        "a.yaml:6: ${IMAGE} — a variable or template: its value is known only when "
                        f"the file is used ({MARKED})"]


def test_a_marked_reference_is_never_rewritten_nor_looked_up(config: Config, tmp_path: Path) -> None:
    text = "a:\n  image: nginx:1.27 # mirror-bot: ignore\nb:\n  image: nginx:1.27\n"
    (tmp_path / "a.yaml").write_text(text)
    asked: list[str] = []

    def checker(target: Reference) -> str | None:
        asked.append(str(target))
        return "sha256:" + "0" * 64

    code, messages = run(config, tmp_path, "a.yaml", mode=Mode.WRITE, checker=checker)
    assert (code, messages[0]) == (0, f"a.yaml:2: nginx:1.27 — {MARKED}")
    assert (tmp_path / "a.yaml").read_text() == text.replace(
        "b:\n  image: nginx:1.27", f"b:\n  image: {MIRROR}/docker.io/library/nginx:1.27")
    assert asked == [f"{MIRROR}/docker.io/library/nginx:1.27"]
    (tmp_path / "b.yaml").write_text("a:\n  image: nginx:1.27 # mirror-bot: ignore\n")
    asked.clear()
    assert run(config, tmp_path, "b.yaml", checker=checker)[0] == 0
    assert asked == []


# -- where the mark counts ----------------------------------------------------------------------

@pytest.mark.parametrize(("values", "marked"), [
    ("image:  # mirror-bot: ignore\n  registry: docker.io\n  repository: library/a\n  tag: '1'\n", True),
    ("image:\n  registry: docker.io\n  repository: library/a\n  tag: '1'  # mirror-bot: ignore\n", True),
    ("image:\n  registry: docker.io  #mirror-bot:ignore\n  repository: library/a\n  tag: '1'\n", True),
    ("image: {repository: a, tag: '1'}  # mirror-bot: ignore\n", True),
    ("image:\n  registry: docker.io\n  repository: library/a\n  tag: '1'\n# mirror-bot: ignore\n", False),
    ("image:\n  registry: docker.io\n  repository: \"library/a # mirror-bot: ignore\"\n  tag: '1'\n", False),
    ("image:\n  registry: docker.io\n  repository: library/a\n  tag: '1'  # mirror-bot: ignored\n", False),
])
def test_the_mark_counts_at_the_end_of_any_line_of_a_helm_block(values: str, marked: bool) -> None:
    scan = Format.HELM.scan(values, "values.yaml")
    assert [item.marked for item in [*scan.found, *scan.left]] == [marked]


@pytest.mark.parametrize(("dockerfile", "marked"), [
    ("# mirror-bot: ignore\nFROM nginx:1.27\n", True),
    ("  #  mirror-bot: ignore  \nFROM --platform=$BUILDPLATFORM \\\n    nginx:1.27 AS build\n", True),
    ("# mirror-bot: ignore\n\nFROM nginx:1.27\n", False),  # not directly above
    ("# mirror-bot: ignore\nRUN true\nFROM nginx:1.27\n", False),
    ("# mirror-bot: ignore\nARG BASE=nginx:1.27\nFROM $BASE\n", True),  # above the ARG
    ("ARG BASE=nginx:1.27\n# mirror-bot: ignore\nFROM ${BASE}\n", True),  # above the FROM using it
    ("FROM scratch AS s\n# mirror-bot: ignore\nCOPY --from=nginx:1.27 /a /b\n", True),
])
def test_the_mark_counts_on_the_comment_line_directly_above_a_dockerfile_instruction(
        dockerfile: str, marked: bool) -> None:
    scan = Format.DOCKERFILE.scan(dockerfile, "Dockerfile")
    assert [found.marked for found in scan.found] == [marked]


def test_a_mark_after_a_from_is_an_argument_not_a_mark(config: Config, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM golang:${GO} # mirror-bot: ignore\n")
    code, messages = run(config, tmp_path, "Dockerfile")
    assert code == 1
    assert messages[0] == ("Dockerfile:1: golang:${GO} — uses build arguments (GO): the image is "
                           "known only at build time")


# -- hostile files ------------------------------------------------------------------------------

def test_files_resolving_outside_the_working_directory_are_refused_and_nothing_changes(
        config: Config, tmp_path: Path) -> None:
    root = tmp_path / "work"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside.yaml"
    outside.write_text("image: nginx:1.27\n")
    (root / "sub" / "link.yaml").symlink_to(outside)
    (root / "dir-link").symlink_to(tmp_path)
    (root / "ok.yaml").write_text("image: nginx:1.27\n")
    for name in ("../outside.yaml", str(outside), "sub/link.yaml", "dir-link/outside.yaml",
                 "sub/../../outside.yaml"):
        with pytest.raises(RewriteError, match=r"resolves outside the current directory"):
            run(config, root, "ok.yaml", name, mode=Mode.WRITE)
    assert (root / "ok.yaml").read_text() == "image: nginx:1.27\n"
    assert outside.read_text() == "image: nginx:1.27\n"
    (root / "inside.yaml").symlink_to(root / "ok.yaml")
    assert run(config, root, "inside.yaml", str(root / "sub" / ".." / "ok.yaml"), mode=Mode.WRITE)[0] == 0
    assert (root / "inside.yaml").is_symlink()
    assert (root / "ok.yaml").read_text() == f"image: {MIRROR}/docker.io/library/nginx:1.27\n"


def test_a_loop_of_symbolic_links_is_one_line(config: Config, tmp_path: Path) -> None:
    os.symlink("b.yaml", tmp_path / "a.yaml")
    os.symlink("a.yaml", tmp_path / "b.yaml")
    with pytest.raises(RewriteError, match=r"^a\.yaml: cannot read"):
        run(config, tmp_path, "a.yaml")


@pytest.mark.parametrize("prefix", ["", "\ufeff"])
@pytest.mark.parametrize("nesting", [("[", "]"), ("{a: ", "}")])
def test_yaml_nested_too_deep_is_refused_in_one_line(
        config: Config, tmp_path: Path, prefix: str, nesting: tuple[str, str]) -> None:
    opening, closing = nesting
    (tmp_path / "deep.yaml").write_text(f"{prefix}a: {opening * 3000}1{closing * 3000}\n")
    with pytest.raises(RewriteError, match=r"^deep\.yaml: nested too deep to read safely; nothing "
                                           r"was changed$"):
        run(config, tmp_path, "deep.yaml")


def test_a_long_chain_of_compose_merges_is_followed_without_recursion(config: Config) -> None:
    chain = "".join(f"x-{i}: &a{i}\n  <<: *a{i - 1}\n" for i in range(1, 3000))
    text = f"x-0: &a0\n  image: nginx:1.27\n{chain}services:\n  web:\n    <<: *a2999\n"
    scan = Format.COMPOSE.scan(text, "compose.yaml")
    assert [found.text for found in scan.found] == ["nginx:1.27"]


def test_text_quoted_from_a_file_is_shown_on_one_safe_line() -> None:
    assert shown("nginx:1\x1b[31m\n\u202e") == "nginx:1\\x1b[31m\\n\\u202e"
    assert shown("a" * 500) == "a" * 200 + "…"


def test_compose_build_names_its_own_image_and_variables_are_named(config: Config) -> None:
    text = ("services:\n  app:\n    build: .\n    image: registry.example.com/team/app:dev\n"
            "  db:\n    image: ${DB_IMAGE:-postgres:16}\n  cache:\n    image: redis:7\n")
    scan = Format.COMPOSE.scan(text, "compose.yaml")
    assert [found.text for found in scan.found] == ["redis:7"]
    assert [(left.line, left.text) for left in scan.left] == [(6, "${DB_IMAGE:-postgres:16}")]
