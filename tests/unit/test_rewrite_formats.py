"""The rewrite's pure parts: what each format finds, format detection, and byte-for-byte splicing.

These run offline (`--all` needs no registry): the mirrored address comes from the naming
rules alone, so the registry-backed behaviour lives in test_rewrite.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Config, load_config
from bot.errors import InvalidReference
from bot.flows.rewrite import Mode, Streams, rewrite_files, verify
from bot.image.reference import parse
from bot.rewrite.formats import Format, by_name, detect
from bot.rewrite.model import RewriteError, Role
from bot.rewrite.yamldoc import NOT_VERBATIM
from tests.fixtures import DATA

MIRROR = "m.example.io"
ALLOWLIST = "allow:\n  - docker.io/library/*\n  - docker.io/bitnami/**\n  - quay.io/acme/*\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    allowlist = tmp_path_factory.mktemp("rewrite") / "allowlist.yaml"
    allowlist.write_text(ALLOWLIST)
    return load_config({"MIRROR_REGISTRY": MIRROR, "MIRROR_ALLOWLIST": str(allowlist)})


def rewrite_text(config: Config, text: str, format: Format) -> tuple[str, str]:
    """(new text, messages) of `rewrite --all --format F -` on `text`."""
    out, err = io.BytesIO(), io.StringIO()
    streams = Streams(io.BytesIO(text.encode()), out, err)
    assert rewrite_files(["-"], mode=Mode.WRITE, config=config, checker=None, root=Path.cwd(),
                         format=format, streams=streams) == 0
    return out.getvalue().decode(), err.getvalue()


def found_texts(text: str, format: Format) -> list[str]:
    return [found.text for found in format.scan(text, "test").found]


# -- Dockerfiles --------------------------------------------------------------------------------

def test_dockerfile_escape_directive_continuations_and_comments_inside() -> None:
    text = ("# escape=`\r\n"
            "FROM --platform=linux/arm64 `\r\n"
            "# a comment inside the instruction\r\n"
            "\r\n"
            "    nginx:1.27 AS Web\r\n"
            "FROM web\r\n"
            "RUN echo \\\r\n"
            "FROM not-an-instruction:1\r\n")
    scan = Format.DOCKERFILE.scan(text, "Dockerfile")
    assert [found.text for found in scan.found] == ["nginx:1.27", "not-an-instruction:1"]
    assert scan.found[0].line == 5


def test_dockerfile_heredoc_bodies_are_skipped() -> None:
    text = ("FROM alpine:3.20\n"
            "RUN <<-ONE cat > /a && cat <<'TWO' > /b\n"
            "\tFROM inside-one:1\n"
            "\tONE\n"
            "FROM inside-two:1\n"
            "TWO\n"
            "COPY --from=busybox:1.36 <<EOF /c\n"
            "FROM inside-three:1\n"
            "EOF\n"
            "FROM python:3.12\n")
    assert found_texts(text, Format.DOCKERFILE) == ["alpine:3.20", "busybox:1.36", "python:3.12"]


def test_dockerfile_leaves_stages_scratch_numbers_and_names_variables() -> None:
    text = ("ARG V=1\nFROM golang:1.22 AS Build\nFROM BUILD\nFROM scratch\nFROM Scratch\n"
            "FROM $IMG\nFROM ${IMG}:${V}\nFROM registry:${V}\nCOPY --from=0 /a /a\n"
            "COPY --from=build /a /a\nCOPY --from=$X /a /a\nCOPY --chown=1 --from=nginx /a /a\n")
    scan = Format.DOCKERFILE.scan(text, "Dockerfile")
    assert [found.text for found in scan.found] == ["golang:1.22", "nginx"]
    assert [(left.line, left.text, left.reason) for left in scan.left] == [
        (6, "$IMG", "a build argument (IMG) with no default before the first FROM: the image is "
                    "known only at build time"),
        (7, "${IMG}:${V}", "uses build arguments (IMG, V=1 by default): the image is known only "
                           "at build time"),
        (8, "registry:${V}", "uses build arguments (V=1 by default): the image is known only at "
                             "build time"),
        (11, "$X", "uses build arguments (X): the image is known only at build time"),
    ]


def test_dockerfile_run_mount_from_an_image_is_a_reference(config: Config) -> None:
    text = ("FROM golang:1.22 AS build\n"
            "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=build,source=/a,target=/a \\\n"
            "    --mount=type=bind,from=busybox:1.36,source=/bin/sh,target=/sh true\n")
    new, messages = rewrite_text(config, text, Format.DOCKERFILE)
    assert messages == ""
    assert new == text.replace("golang:1.22", f"{MIRROR}/docker.io/library/golang:1.22").replace(
        "from=busybox:1.36", f"from={MIRROR}/docker.io/library/busybox:1.36")


def test_dockerfile_global_arg_defaults_used_by_from(config: Config) -> None:
    text = ('ARG BASE="nginx:1.27" OTHER=unused:1 EMPTY\n'
            "ARG RUNTIME='python:3.12'\n"
            "FROM $BASE AS build\n"
            "ARG LATE=alpine:3\n"
            "FROM ${RUNTIME}\nFROM ${BASE}\nFROM $LATE\nFROM ${EMPTY:-busybox}\nFROM $EMPTY\n")
    new, messages = rewrite_text(config, text, Format.DOCKERFILE)
    assert new == text.replace('"nginx:1.27"', f'"{MIRROR}/docker.io/library/nginx:1.27"').replace(
        "'python:3.12'", f"'{MIRROR}/docker.io/library/python:3.12'")
    assert [line.split(" — ")[0] for line in messages.splitlines()] == [
        "-:7: $LATE", "-:8: ${EMPTY:-busybox}", "-:9: $EMPTY"]  # LATE is declared after a FROM


# -- YAML formats -------------------------------------------------------------------------------

def test_yaml_scalars_written_verbatim_only() -> None:
    text = ("a:\n  image: !!str nginx:1\n"
            "b:\n  image: &x 'busybox:1'\n"
            "c:\n  image: *x\n"
            "d:\n  image: |\n    nginx:2\n"
            "e:\n  image: \"ngi\\x6ex:3\"\n"
            "f:\n  image: nginx\n    :4\n"
            "g:\n  image: 5\n"
            "h:\n  image:\n")
    scan = Format.KUBERNETES.scan(text, "k.yaml")
    assert [found.text for found in scan.found] == ["nginx:1", "busybox:1"]
    assert [(left.text, left.line, left.reason) for left in scan.left] == [
        ("nginx:2\n", 8, NOT_VERBATIM), ("nginx:3", 11, NOT_VERBATIM), ("nginx :4", 13, NOT_VERBATIM)]


def test_self_referencing_anchors_end() -> None:
    assert found_texts("a: &a\n  b: *a\n  image: nginx\n", Format.KUBERNETES) == ["nginx"]
    assert found_texts("services:\n  a: &a\n    <<: *a\n", Format.COMPOSE) == []


def test_compose_reads_merge_keys_in_order() -> None:
    text = ("x-a: &a {image: 'first:1'}\nx-b: &b {image: second:1, init: true}\n"
            "services:\n  one: {<<: [*a, *b]}\n  two:\n    <<: *b\n  three:\n    <<: *a\n"
            "    image: own:1\n")
    assert found_texts(text, Format.COMPOSE) == ["first:1", "second:1", "own:1"]


def test_helm_maps_with_and_without_registry() -> None:
    text = ("a:\n  image: {registry: docker.io, repository: bitnami/redis, tag: 7.2, digest: ''}\n"
            "b:\n  image: {registry: '', repository: nginx, tag: '1'}\n"
            "c:\n  image: {registry: null, repository: quay.io/acme/x, "
            "digest: 'sha256:" + "a" * 64 + "'}\n"
            "d:\n  image: {repository: nginx}\n"
            "e:\n  image: {repository: '{{ .Values.repo }}', tag: '1'}\n")
    scan = Format.HELM.scan(text, "values.yaml")
    assert [(found.text, [span.role for span in found.spans]) for found in scan.found] == [
        ("docker.io/bitnami/redis:7.2", [Role.REGISTRY, Role.REPOSITORY]),
        ("nginx:1", [Role.REGISTRY, Role.REPOSITORY]),
        ("quay.io/acme/x@sha256:" + "a" * 64, [Role.NAME]),
    ]
    assert [(left.text, left.reason.split(":")[0]) for left in scan.left] == [
        ("nginx", "no tag in these values"),
        ("{{ .Values.repo }}:1", "a variable or template")]


def test_helm_rewrite_keeps_tag_and_digest_untouched(config: Config) -> None:
    text = ("image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.20\n"
            "other:\n  image: {registry: \"\", repository: nginx, tag: '1'}\n")
    new, _ = rewrite_text(config, text, Format.HELM)
    assert new == ("image:\n  registry: m.example.io\n  repository: docker.io/bitnami/redis\n"
                   "  tag: 7.20\n"
                   "other:\n  image: {registry: \"m.example.io\", repository: docker.io/library/nginx, "
                   "tag: '1'}\n")


# -- the rewrite as a whole ---------------------------------------------------------------------

def test_bytes_outside_the_references_are_kept(config: Config) -> None:
    text = ("\ufeff# \u00e9t\u00e9 \t comment\r\n"
            "apiVersion: v1\r\nkind: Pod\r\nspec:\r\n"
            "  containers:\r\n"
            "  -   name: a   # odd indentation\r\n"
            "      image:    \"nginx:1.27\"    #  keep\r\n"
            "  - {image: 'busybox', name: b}\r\n"
            "  - image: nginx@sha256:" + "b" * 64)
    new, messages = rewrite_text(config, text, Format.KUBERNETES)
    assert new == (text.replace('"nginx:1.27"', f'"{MIRROR}/docker.io/library/nginx:1.27"')
                   .replace("'busybox'", f"'{MIRROR}/docker.io/library/busybox'")
                   .replace("- image: nginx@", f"- image: {MIRROR}/docker.io/library/nginx@"))
    assert messages == ""


def test_addresses_under_the_mirror_and_invalid_ones_are_left_alone(config: Config) -> None:
    text = (f"a:\n  image: {MIRROR}/docker.io/library/nginx:1\n"
            "b:\n  image: Nginx:1\n"
            "c:\n  image: \"nginx:1\\e[31m\"\n"
            "d:\n  image: ghcr.io/other/x:1\n")
    new, messages = rewrite_text(config, text, Format.KUBERNETES)
    assert new == text
    lines = messages.splitlines()
    assert lines[0].startswith("-:4: Nginx:1 — not a valid image reference: ")
    assert "must be lowercase" in lines[0]
    assert lines[1] == f"-:6: nginx:1\\x1b[31m — {NOT_VERBATIM}"  # the escape is shown, not sent
    assert lines[2].startswith("-:8: ghcr.io/other/x:1 — not allowed: ghcr.io/other/x is not in")
    assert len(lines) == 3


def test_verify_refuses_a_text_that_does_not_read_back(config: Config) -> None:
    from bot.flows.rewrite import decide, load_document

    document = load_document("k.yaml", "image: nginx:1\n", None)
    decisions = decide(["nginx:1"], config, None)
    verify(document, f"image: {MIRROR}/docker.io/library/nginx:1\n", decisions)
    with pytest.raises(RewriteError, match="would not read back"):
        verify(document, "image: [nginx:1]\n", decisions)


def test_bare_reference_stays_without_tag() -> None:
    target = parse(f"{MIRROR}/docker.io/library/nginx:latest")
    assert Role.REFERENCE.render(target, "nginx") == f"{MIRROR}/docker.io/library/nginx"
    assert Role.REFERENCE.render(target, "nginx:latest") == f"{MIRROR}/docker.io/library/nginx:latest"


IMAGES = st.sampled_from(["nginx", "nginx:1.27", "docker.io/bitnami/redis:7", "quay.io/acme/x:v1",
                          "busybox@sha256:" + "c" * 64, "example.com/not/allowed:1", "${VAR}"])
LEAVES = st.one_of(IMAGES, st.integers(), st.booleans(), st.none(), st.text(max_size=8),
                   st.from_regex(r"[a-z0-9]{1,4}(/[a-z0-9]{1,4})?(:[a-z0-9.]{1,4})?", fullmatch=True))
TREES = st.recursive(
    st.dictionaries(st.sampled_from(["image", "name", "spec", "containers"]), LEAVES, max_size=3),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["image", "spec", "containers", "template", "x"]), children,
                        max_size=3)),
    max_leaves=12)


def expected_tree(tree: object, config: Config) -> object:
    if isinstance(tree, dict):
        return {key: expected_image(value, config) if key == "image" else expected_tree(value, config)
                for key, value in tree.items()}
    if isinstance(tree, list):
        return [expected_tree(item, config) for item in tree]
    return tree


def expected_image(value: object, config: Config) -> object:
    if not isinstance(value, str) or "$" in value:
        return expected_tree(value, config)
    try:
        source = parse(value)
    except InvalidReference:
        return value
    if not config.allowlist.decide(source).allowed:
        return value
    target = config.namer.target(source)
    return str(target) if (":" in value or "@" in value) else target.name


@given(tree=TREES, flow=st.sampled_from([False, True, None]),
       style=st.sampled_from([None, "'", '"']))
def test_rewritten_yaml_loads_as_the_same_tree_with_images_mirrored(
        config: Config, tree: object, flow: bool | None, style: str | None) -> None:
    text = yaml.safe_dump(tree, default_flow_style=flow, default_style=style, width=60)
    new, _ = rewrite_text(config, text, Format.KUBERNETES)
    assert yaml.safe_load(new) == expected_tree(tree, config)
    assert rewrite_text(config, new, Format.KUBERNETES)[0] == new


# -- format detection ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("Dockerfile", Format.DOCKERFILE), ("build/api.Dockerfile", Format.DOCKERFILE),
    ("Dockerfile.prod", Format.DOCKERFILE), ("Containerfile", Format.DOCKERFILE),
    ("dockerfile", Format.DOCKERFILE), ("compose.yaml", Format.COMPOSE),
    ("deploy/docker-compose.prod.yml", Format.COMPOSE), ("compose.override.yml", Format.COMPOSE),
    ("values.yaml", Format.HELM), ("charts/x/values-prod.yml", Format.HELM),
    ("deployment.yaml", None), ("values.json", None), ("notes.txt", None),
])
def test_format_by_name(name: str, expected: Format | None) -> None:
    assert by_name(name) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("apiVersion: v1\nkind: Pod\n", Format.KUBERNETES),
    ("---\nfoo: 1\n---\napiVersion: v1\nkind: List\nitems: []\n", Format.KUBERNETES),
    ("services:\n  web:\n    image: nginx\n", Format.COMPOSE),
    ("image:\n  repository: nginx\n", Format.HELM),
    ("- image: nginx\n", Format.HELM),
    ("# only a comment\n", Format.KUBERNETES),
    ("FROM nginx:1\nRUN echo hi\n", Format.DOCKERFILE),
    ("# syntax=docker/dockerfile:1\nFROM nginx:1\nRUN echo a: b\n", Format.DOCKERFILE),
])
def test_format_by_content(text: str, expected: Format) -> None:
    assert detect("-", text) == expected


def test_undetectable_input_asks_for_format() -> None:
    with pytest.raises(RewriteError, match=r"^-: cannot tell which format this is; give --format"):
        detect("-", "just some words\n")
    with pytest.raises(RewriteError, match=r"^deploy\.yaml:2: invalid YAML"):
        detect("deploy.yaml", "a: [b\nc: d\n")


def test_format_option_overrides_detection(config: Config, tmp_path: Path) -> None:
    new, _ = rewrite_text(config, "image: nginx:1\n", Format.COMPOSE)
    assert new == "image: nginx:1\n"  # not under services: not a compose reference
    new, _ = rewrite_text(config, "FROM nginx:1\n", Format.DOCKERFILE)
    assert new == f"FROM {MIRROR}/docker.io/library/nginx:1\n"


def test_stdin_cannot_be_mixed_with_files(config: Config) -> None:
    with pytest.raises(RewriteError, match="cannot be combined"):
        rewrite_files(["-", "x.yaml"], mode=Mode.CHECK, config=config, checker=None, root=Path.cwd())


def test_non_utf8_file_is_refused(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"image: nginx # \xe9\n")
    with pytest.raises(RewriteError, match=r"latin1\.yaml: not UTF-8 text"):
        rewrite_files([str(path)], mode=Mode.WRITE, config=config, checker=None, root=tmp_path)
    assert path.read_bytes() == b"image: nginx # \xe9\n"


@pytest.mark.parametrize("name", ["manifests.yaml", "compose.yaml", "values.yaml"])
def test_libyaml_and_pure_python_composers_find_the_same_spans(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.rewrite import yamldoc

    text = (DATA / "rewrite" / "input" / name).read_text()
    text = text.replace("\n", "\r\n").replace("# ", "# \u00e9t\u00e9 ")
    format = by_name(name) or Format.KUBERNETES
    fast = format.scan(text, name)
    monkeypatch.setattr(yamldoc, "FAST_LOADER", yaml.SafeLoader)
    assert format.scan(text, name) == fast
    assert len(fast.found) >= 4
