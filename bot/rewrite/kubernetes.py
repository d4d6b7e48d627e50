"""Kubernetes manifests (multi-document YAML): every `image:` key, at any depth.

Rule: `image: REF` strings are rewritten wherever they sit, which covers `containers`,
`initContainers` and `ephemeralContainers` of every workload kind (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, pod templates) and custom resources that use
the same key; a tagless one means `:latest` and is rewritten as such. Operator bundles' own
references are images too: an environment variable named `RELATED_IMAGE_*` and the
`containerImage` annotation of a ClusterServiceVersion (`relatedImages` uses `image:`).
`image:` maps inside custom resources (a HelmRelease's values) are read as Helm values are.
Variables (`$VAR`, `${VAR}`, `$(VAR)`, `{{ }}`) are left for the tool that fills them, and named.
"""

from __future__ import annotations

import yaml

from bot.rewrite import helm, yamldoc
from bot.rewrite.model import Scan, scan_of

RELATED_IMAGE_PREFIX = "RELATED_IMAGE_"


def find(text: str, name: str) -> Scan:
    roots = yamldoc.documents(text, name)
    return scan_of(helm.find_references(roots, text, strings_mean_latest=True, extra=operator_images))


def operator_images(items: list[tuple[str, yaml.Node]], under: str | None) -> list[yaml.Node]:
    """`{name: RELATED_IMAGE_X, value: REF}` in an env list; `containerImage:` in annotations."""
    fields = dict(items)
    if under == "annotations" and "containerImage" in fields:
        return [fields["containerImage"]]
    variable = yamldoc.string_value(fields.get("name"))
    if under == "env" and variable and variable.startswith(RELATED_IMAGE_PREFIX) and "value" in fields:
        return [fields["value"]]
    return []


def looks_like(roots: list[yaml.Node]) -> bool:
    """A manifest: some document is a mapping with `apiVersion` and `kind`."""
    return any({"apiVersion", "kind"} <= {key for key, _ in yamldoc.mapping_items(root)}
               for root in roots)
