"""Helm values as charts read them: what is rewritten, and exactly how the chart's address reads
after it; what is left, and why.

A chart builds `{registry}/{repository or image}:{tag}` (and `@digest`, or `@sha256:{sha}`); the
tests build the same from the rewritten values and compare it with the mirrored address.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from bot.config import Config, load_config
from bot.flows.rewrite import Mode, Streams, rewrite_files
from bot.image.reference import parse
from bot.rewrite.formats import Format
from bot.rewrite.model import Found, Left, Role
from tests.fixtures import DATA

MIRROR = "m.example.io/team"
ALLOWLIST = "allow:\n  - docker.io/**\n  - quay.io/**\n  - registry.k8s.io/**\n  - ghcr.io/**\n"
SHA = "a" * 64


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    allowlist = tmp_path_factory.mktemp("helm") / "allowlist.yaml"
    allowlist.write_text(ALLOWLIST)
    return load_config({"MIRROR_REGISTRY": MIRROR, "MIRROR_ALLOWLIST": str(allowlist)})


def rewrite(config: Config, text: str, format: Format = Format.HELM) -> tuple[str, list[str]]:
    out, err = io.BytesIO(), io.StringIO()
    rewrite_files(["-"], mode=Mode.WRITE, config=config, checker=None, root=Path.cwd(),
                  format=format, streams=Streams(io.BytesIO(text.encode()), out, err))
    return out.getvalue().decode(), err.getvalue().splitlines()


def scan(text: str, format: Format = Format.HELM) -> list[Found | Left]:
    result = format.scan(text, "values.yaml")
    return sorted([*result.found, *result.left], key=lambda item: item.line)


def chart_address(block: dict[str, object]) -> str:
    """The address a chart of the ingress-nginx, Bitnami or kube-prometheus-stack kind builds."""
    name = block.get("repository") or block["image"]
    registry = block.get("registry")
    text = f"{registry}/{name}" if registry else str(name)
    text += f":{block['tag']}" if block.get("tag") else ""
    if block.get("digest"):
        return f"{text}@{block['digest']}"
    return f"{text}@sha256:{block['sha']}" if block.get("sha") else text


def test_ingress_nginx_style_block_without_global_is_split_into_mirror_host_and_path(
        config: Config) -> None:
    text = ("controller:\n  image:\n    chroot: false\n    registry: registry.k8s.io\n"
            "    image: ingress-nginx/controller\n    tag: \"v1.15.1\"\n"
            f"    digest: sha256:{SHA}\n    digestChroot: sha256:{'b' * 64}\n")
    new, messages = rewrite(config, text)
    assert messages == []
    assert new == text.replace("registry: registry.k8s.io", "registry: m.example.io").replace(
        "image: ingress-nginx/controller", "image: team/registry.k8s.io/ingress-nginx/controller")
    source = chart_address(yaml.safe_load(text)["controller"]["image"])
    assert chart_address(yaml.safe_load(new)["controller"]["image"]) == str(
        config.namer.target(parse(source)))


@pytest.mark.parametrize(("values", "reason"), [
    ("  image: {registry: r.io, image: a/b, tag: '1', chroot: true}\n",
     "chroot is on: the chart pulls another image than these values name"),
    ("  image: {image: a/b, tag: '1'}\n",
     "no registry beside it: the chart puts its own before it, so the address is not known here; "
     "set registry to rewrite it"),
    ("  image: {registry: r.io, repository: a/b, image: c/d, tag: '1'}\n",
     "both repository and image are set: which one the chart uses is not known; keep one"),
    (f"  image: {{registry: r.io, repository: a/b, tag: '1', digest: 'sha256:{SHA}', sha: {SHA}}}\n",
     "both digest and sha are set: which one the chart uses is not known; keep one"),
    (f"  image: {{registry: r.io, repository: a/b, tag: '1', sha: 'sha256:{SHA}'}}\n",
     "sha is not the 64 hexadecimal digits the chart writes after @sha256:"),
    ("  image: {registry: r.io, repository: a/b, tag: '{{ .Chart.AppVersion }}'}\n",
     "a variable or template: its value is known only when the file is used"),
    ("  image: {registry: r.io, repository: a/b, tag: ''}\n",
     "no tag in these values: the chart supplies it (often its appVersion); set tag to rewrite it"),
    ("  image: {registry: 5000, repository: a/b, tag: '1'}\n",
     "registry is not a string: how the chart reads it is not known"),
])
def test_blocks_whose_address_is_not_known_exactly_are_left_and_named(
        config: Config, values: str, reason: str) -> None:
    text = f"app:\n{values}"
    [left] = scan(text)
    assert isinstance(left, Left)
    assert (left.line, left.reason) == (2, reason)
    new, messages = rewrite(config, text)
    assert new == text
    assert messages == [f"-:2: {left.text} — {reason}"]


def test_a_global_registry_decides_every_image_under_it_and_is_never_rewritten(config: Config) -> None:
    text = ("global:\n  imageRegistry: my.registry.io\n"
            "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.4.2\n"
            "metrics:\n  image:\n    repository: bitnami/redis-exporter\n    tag: 1.67.0\n"
            "sidecar:\n  image: quay.io/acme/tool:1\n")
    new, messages = rewrite(config, text)
    assert new == text
    assert messages == [
        "-:5: my.registry.io/bitnami/redis:7.4.2 — global.imageRegistry (line 2) may replace its "
        "registry, and is never rewritten: it also moves images these values do not name; point "
        "both at the mirror by hand",
        "-:9: my.registry.io/bitnami/redis-exporter:1.67.0 — global.imageRegistry (line 2) gives "
        "its registry, and is never rewritten: it also moves images these values do not name; "
        "point both at the mirror by hand",
        "-:12: quay.io/acme/tool:1 — global.imageRegistry (line 2) may replace its registry, and is "
        "never rewritten: it also moves images these values do not name; point both at the mirror "
        "by hand",
    ]


def test_an_empty_global_registry_decides_nothing(config: Config) -> None:
    text = ("global:\n  imageRegistry: \"\"\n  image:\n    registry:\n"
            "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.4.2\n")
    new, messages = rewrite(config, text)
    assert messages == []
    assert "  registry: m.example.io\n  repository: team/docker.io/bitnami/redis\n" in new


def test_a_global_registry_in_a_helm_release_decides_its_values_only(config: Config) -> None:
    text = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: a}\n"
            "spec:\n  values:\n    global: {imageRegistry: my.registry.io}\n"
            "    image: {registry: docker.io, repository: bitnami/redis, tag: '7'}\n"
            "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: b}\n"
            "spec:\n  values:\n    image: {registry: docker.io, repository: bitnami/redis, tag: '7'}\n")
    new, messages = rewrite(config, text, Format.KUBERNETES)
    assert [message.split(" — ")[0] for message in messages] == ["-:7: my.registry.io/bitnami/redis:7"]
    assert new.count("registry: m.example.io, repository: team/docker.io/bitnami/redis") == 1


def test_helm_create_style_repository_is_the_whole_name_when_no_image_here_names_a_registry(
        config: Config) -> None:
    text = "image:\n  repository: nginx\n  tag: 1.27\n  pullPolicy: IfNotPresent\n"
    new, messages = rewrite(config, text)
    assert messages == []
    assert new == text.replace("repository: nginx", "repository: m.example.io/team/docker.io/library/nginx")


def test_repository_without_registry_beside_blocks_that_have_one(config: Config) -> None:
    text = ("a:\n  image: {registry: quay.io, repository: x/y, tag: '1'}\n"
            "b:\n  image: {repository: x/z, tag: '1'}\n"
            "c:\n  image: {repository: ghcr.io/x/w, tag: '1'}\n")
    assert [(item.line, type(item).__name__) for item in scan(text)] == [
        (2, "Found"), (4, "Left"), (6, "Found")]


def test_kube_prometheus_stack_sha_is_a_digest_after_sha256(config: Config) -> None:
    text = f"thanosImage:\n  registry: quay.io\n  repository: thanos/thanos\n  tag: v0.42.4\n  sha: {SHA}\n"
    [found] = scan(text)
    assert isinstance(found, Found)
    assert found.text == f"quay.io/thanos/thanos:v0.42.4@sha256:{SHA}"
    assert [span.role for span in found.spans] == [Role.REGISTRY, Role.REPOSITORY]
    new, _ = rewrite(config, text)
    assert chart_address(yaml.safe_load(new)["thanosImage"]) == str(config.namer.target(parse(found.text)))


def test_helm_strings_without_a_tag_are_left_manifests_mean_latest(config: Config) -> None:
    text = "a:\n  image: nginx\nb:\n  image: nginx:1.27\n"
    new, messages = rewrite(config, text)
    assert new == text.replace("nginx:1.27", "m.example.io/team/docker.io/library/nginx:1.27")
    assert messages == ["-:2: nginx — no tag: the chart may append its own; write the tag to rewrite it"]
    new, messages = rewrite(config, text, Format.KUBERNETES)
    assert messages == []
    assert "  image: m.example.io/team/docker.io/library/nginx\n" in new


def test_real_chart_values_read_back_as_the_mirrored_addresses(config: Config) -> None:
    """Every block of kube-prometheus-stack's values that is rewritten builds, as its templates
    build it, exactly the mirrored address of what it built before."""
    text = (DATA / "rewrite" / "real" / "values-kube-prometheus-stack.yaml").read_text()
    new, _ = rewrite(config, text)
    before, after = yaml.safe_load(text), yaml.safe_load(new)
    checked = 0
    for path in (("crds", "upgradeJob", "image", "busybox"), ("alertmanager", "alertmanagerSpec", "image"),
                 ("prometheusOperator", "admissionWebhooks", "patch", "image"),
                 ("prometheusOperator", "thanosImage"), ("prometheus", "prometheusSpec", "image")):
        old_block, new_block = before, after
        for key in path:
            old_block, new_block = old_block[key], new_block[key]
        assert chart_address(new_block) == str(config.namer.target(parse(chart_address(old_block))))
        checked += 1
    assert checked == 5


def test_an_empty_registry_key_marks_a_chart_that_splits_registries(config: Config) -> None:
    """`registry: ""` is rewritten to the mirror's host; the name beside no registry key stays
    left before and after, so the rewrite reads back as it was decided."""
    text = ("a:\n  image: {registry: '', repository: nginx, tag: '1'}\n"
            "b:\n  image: {repository: busybox, tag: '1'}\n")
    new, messages = rewrite(config, text)
    assert new == text.replace("registry: ''", "registry: 'm.example.io'").replace(
        "repository: nginx", "repository: team/docker.io/library/nginx")
    assert messages == ["-:4: busybox:1 — no registry beside it while other images here have one: "
                        "the chart may supply its own; set registry to rewrite it"]
    assert rewrite(config, new) == (new, messages)
