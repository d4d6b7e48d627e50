"""Kubernetes manifests (multi-document YAML): every `image:` key, at any depth.

Rule: `image: REF` strings are rewritten wherever they sit, which covers `containers`,
`initContainers` and `ephemeralContainers` of every workload kind (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, pod templates) and custom resources that use
the same key; `image:` maps inside custom resources (a HelmRelease's values) are read as Helm
values are. Variables (`$VAR`, `${VAR}`, `{{ }}`) are left for the tool that fills them.
"""

from __future__ import annotations

import yaml

from bot.rewrite import helm, yamldoc
from bot.rewrite.model import Found, Ignored, Scan


def find(text: str, name: str) -> Scan:
    roots = yamldoc.documents(text, name)
    results = yamldoc.scan_keys(roots, text, "image", (yamldoc.image_scalar, helm.image_map))
    return Scan(tuple(r for r in results if isinstance(r, Found)),
                tuple(r for r in results if isinstance(r, Ignored)))


def looks_like(roots: list[yaml.Node]) -> bool:
    """A manifest: some document is a mapping with `apiVersion` and `kind`."""
    return any({"apiVersion", "kind"} <= {key for key, _ in yamldoc.mapping_items(root)}
               for root in roots)
