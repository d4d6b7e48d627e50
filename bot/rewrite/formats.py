"""Which format a file is: by its name first, then by its content.

Rule: `Dockerfile`, `Containerfile` (also `*.Dockerfile`, `Dockerfile.*`), `compose*.y?ml`,
`docker-compose*.y?ml` and `values*.y?ml` are known by name. Other text is YAML when it parses
to a mapping or a list (Kubernetes when a document has `apiVersion` and `kind`, compose when it
has a `services:` map, Helm values otherwise), a Dockerfile when it has a FROM instruction;
anything else is refused with the `--format` to give.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePath

import yaml

from bot.rewrite import compose, dockerfile, helm, kubernetes, yamldoc
from bot.rewrite.model import RewriteError, Scan
from bot.rewrite.yamldoc import too_deep

DOCKERFILE_NAME_RE = re.compile(r"(?:(?:docker|container)file(?:\..+)?|.+\.(?:docker|container)file)\Z",
                                re.IGNORECASE)
COMPOSE_NAME_RE = re.compile(r"(?:docker-)?compose[^/]*\.ya?ml\Z")
VALUES_NAME_RE = re.compile(r"values[^/]*\.ya?ml\Z")
YAML_SUFFIXES = (".yaml", ".yml")


class Format(StrEnum):
    KUBERNETES = "kubernetes"
    COMPOSE = "compose"
    DOCKERFILE = "dockerfile"
    HELM = "helm"

    def scan(self, text: str, name: str) -> Scan:
        """The image references of `text`; RewriteError when it is not valid in this format."""
        module = {Format.KUBERNETES: kubernetes, Format.COMPOSE: compose,
                  Format.DOCKERFILE: dockerfile, Format.HELM: helm}[self]
        try:
            return module.find(text, name)
        except RecursionError:  # the finders walk without recursion; this guards the composer
            raise too_deep(name) from None


def by_name(name: str) -> Format | None:
    base = PurePath(name).name
    if DOCKERFILE_NAME_RE.match(base):
        return Format.DOCKERFILE
    if COMPOSE_NAME_RE.match(base):
        return Format.COMPOSE
    if VALUES_NAME_RE.match(base):
        return Format.HELM
    return None


def detect(name: str, text: str) -> Format:
    """The format of `text`, read from `name` (`-` for standard input)."""
    known = by_name(name)
    if known is not None:
        return known
    try:
        roots = yamldoc.documents(text, name)
    except RewriteError:
        if name.endswith(YAML_SUFFIXES) or not dockerfile.looks_like(text):
            raise
        return Format.DOCKERFILE
    if not roots:
        return Format.KUBERNETES  # comments only: nothing to rewrite in any format
    if any(isinstance(root, yaml.MappingNode | yaml.SequenceNode) for root in roots):
        if kubernetes.looks_like(roots):
            return Format.KUBERNETES
        return Format.COMPOSE if compose.looks_like(roots) else Format.HELM
    if dockerfile.looks_like(text):
        return Format.DOCKERFILE
    choices = ", ".join(f.value for f in Format)
    raise RewriteError(f"{name}: cannot tell which format this is; give --format ({choices})")
