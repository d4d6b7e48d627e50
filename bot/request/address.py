"""One word meant as an image -> the reference text it stands for, or why it names none.

Rule: what people paste around an image name is forgiven and said so: a scheme (`oci://`, as
Helm and ORAS write a chart's or an artifact's address, with a note); a Docker Hub registry
host other than `docker.io` (`registry-1.docker.io`, with a note); Docker Hub
pages (`hub.docker.com/r/ns/repo`, `/_/name`, `/layers/…`, `ns/repo` without `/r/`) and Quay
pages with `/tags`, `?tab=tags`; GitHub package pages; registry API URLs (`/v2/…`) and Docker
Hub's (`hub.docker.com/v2/repositories/ns/repo/tags/tag`); this mirror's address and other
mirrors' prefixes (`m.daocloud.io/docker.io/…`, `docker.m.daocloud.io/…`), each of which adds a
note. A page names the tag only in its path: `?name=` on a Docker Hub page is a search filter,
never read as the tag — the request is refused, suggesting the tag it filtered for. A registry
host, a web site, a web address of a file or a mirror's address with no image after it is "no
image named", with a hint. What is left is checked by `request_repair` (text that is almost a
name is refused with what it most likely meant), then by the reference grammar, which alone
decides validity.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from bot.image import reference
from bot.image.grammar import SHA256_DIGEST_RE, TAG_RE
from bot.messages import Message, message
from bot.request.repair import repair
from bot.request.words import DOCKER_HUB_SITES, OCI_PREFIX, SCHEME_RE, is_host

# Other mirrors' addresses, as pasted in front of an image: prefix -> what it stands for
# ("" when the source's full name follows the prefix). Lower case, without a trailing '/'.
DEFAULT_MIRROR_PREFIXES: Mapping[str, str] = {
    "m.daocloud.io": "",
    "docker.m.daocloud.io": "docker.io",
    "gcr.m.daocloud.io": "gcr.io",
    "ghcr.m.daocloud.io": "ghcr.io",
    "k8s-gcr.m.daocloud.io": "k8s.gcr.io",
    "k8s.m.daocloud.io": "registry.k8s.io",
    "mcr.m.daocloud.io": "mcr.microsoft.com",
    "nvcr.m.daocloud.io": "nvcr.io",
    "quay.m.daocloud.io": "quay.io",
    "elastic.m.daocloud.io": "docker.elastic.co",
    "l5d.m.daocloud.io": "cr.l5d.io",
    "kubesre.xyz": "",
    "dhub.kubesre.xyz": "docker.io",
    "gcr.kubesre.xyz": "gcr.io",
    "ghcr.kubesre.xyz": "ghcr.io",
    "k8s.kubesre.xyz": "registry.k8s.io",
    "quay.kubesre.xyz": "quay.io",
    "swr.cn-north-4.myhuaweicloud.com/ddn-k8s": "",
    "docker.nju.edu.cn": "docker.io",
    "ghcr.nju.edu.cn": "ghcr.io",
    "gcr.nju.edu.cn": "gcr.io",
    "quay.nju.edu.cn": "quay.io",
    "docker.mirrors.ustc.edu.cn": "docker.io",
    "hub-mirror.c.163.com": "docker.io",
    "mirror.ccs.tencentyun.com": "docker.io",
    "registry.docker-cn.com": "docker.io",
    "dockerhub.azk8s.cn": "docker.io",
    "gcr.azk8s.cn": "gcr.io",
    "quay.azk8s.cn": "quay.io",
    "mirror.gcr.io": "docker.io",
    "public.ecr.aws/docker/library": "docker.io/library",
}
PAGE_SUFFIXES = frozenset({"tags", "tag", "layers", "general", "builds", "dockerfile", "history",
                           "manifest"})
QUAY_SITE = "quay.io"
SEARCH_FILTER = "name"  # `?name=` on a Docker Hub page: the tag list's search box
# The end of a web address of a file, never of an image (`http://host/update.sh`).
FILE_SUFFIXES = (".sh", ".yml", ".yaml", ".json", ".txt", ".html", ".htm", ".md", ".tar", ".gz",
                 ".tgz", ".zip", ".exe", ".deb", ".rpm", ".py", ".conf", ".ps1")
MAX_PREFIX_ROUNDS = 3
QUERY_RE = re.compile(r"[?#][^/]*=")  # `?tab=tags`: a query, never a tag pattern
QUERY_START_RE = re.compile(r"[?#]")
API_MANIFEST_RE = re.compile(r"v2/(.+)/manifests/([^/]+)\Z")
API_TAGS_RE = re.compile(r"v2/(.+)/tags/list\Z")
GITHUB_PACKAGE_RE = re.compile(
    r"github\.com/(?:(?:orgs|users)/([^/]+)/packages/container/package|([^/]+)/[^/]+/pkgs/container)"
    r"/([^/?#]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Address:
    """Reference text to parse (or None with the error), and the notes on what was forgiven."""

    text: str | None
    notes: tuple[Message, ...] = ()
    error: Message | None = None
    meant: str | None = None  # with an error: the reference text it most likely meant


def mirror_prefixes_from(value: object) -> dict[str, str]:
    """`settings.mirror_prefixes` (a mapping prefix -> registry, "" when a full name follows),
    lowercased; raise ValueError with what to write when it is not that."""
    if not isinstance(value, Mapping):
        raise ValueError("mirror_prefixes must map a prefix to the registry it stands for "
                         "(\"\" when the full image name follows), e.g. {docker.m.daocloud.io: docker.io}")
    prefixes: dict[str, str] = {}
    for prefix, registry in value.items():
        if not isinstance(prefix, str) or not isinstance(registry, str | None):
            raise ValueError(f"mirror_prefixes: '{prefix}' must map to a registry name or \"\"")
        host = prefix.strip().strip("/").lower()
        if not reference.is_valid_domain(host.split("/", 1)[0]):
            raise ValueError(f"mirror_prefixes: '{prefix}' does not start with a registry host")
        prefixes[host] = (registry or "").strip().strip("/").lower()
    return prefixes


def read_address(word: str, own_prefixes: Sequence[str], mirror_prefixes: Mapping[str, str],
                 registries: Collection[str] = ()) -> Address:
    """The reference text `word` stands for, with notes; or the error when it names none.
    `mirror_prefixes`: other mirrors' (the configuration's, DEFAULT_MIRROR_PREFIXES unless it
    names its own: bot/config.py decides, and only there); `registries`: further registry hosts
    known to be real (those the allowlist names), never taken for a typo."""
    scheme = SCHEME_RE.match(word)
    had_scheme = scheme is not None
    text = SCHEME_RE.sub("", word)
    query = ""
    if (had_scheme or QUERY_RE.search(text)) and (cut := QUERY_START_RE.search(text)):
        text, query = text[: cut.start()], text[cut.end() :]
    if had_scheme and text.rstrip("/").lower().endswith(FILE_SUFFIXES):
        return Address(None, error=message("no image named: '%(page)s' is the web address of a "
                                           "file; write the image's name, e.g. "
                                           "docker.io/library/nginx:1.27", page=word))
    hosts = {*registries, *(prefix.split("/", 1)[0] for prefix in (*own_prefixes, *mirror_prefixes))}
    known = {host.lower() for host in hosts}
    page = _page(text)
    if page is not None:
        return _repaired(_searched(page, text, query), known)
    notes: list[Message] = []
    if scheme is not None and scheme.group().lower() == OCI_PREFIX:
        notes.append(message("oci:// is how Helm and ORAS write a registry address; read as the "
                             "reference after it"))
    for _ in range(MAX_PREFIX_ROUNDS):
        stripped = _strip_prefix(text, own_prefixes, mirror_prefixes, notes)
        if stripped is None:
            break
        if not stripped:
            return Address(None, error=message(
                "no image named: '%(word)s' is a mirror's address with nothing after it; write the "
                "image's own name, e.g. docker.io/library/nginx:1.27", word=word))
        text = stripped
    api = _registry_api(text)
    if api is not None:
        text = api
    if SHA256_DIGEST_RE.match(text):
        return Address(None, error=message("no image named: '%(word)s' is a digest alone; write "
                                           "name@sha256:<hex>", word=word))
    if _names_only_a_host(text):
        return Address(None, error=message(
            "no image named: '%(word)s' is a registry host; write the image after it, e.g. "
            "docker.io/library/nginx:1.27", word=word))
    host = text.split("/", 1)[0]
    if "/" in text and host.lower() in reference.DOCKER_HUB_ALIASES:
        notes.append(message("%(host)s is Docker Hub's registry; read as %(registry)s",
                             host=host, registry=reference.DEFAULT_REGISTRY))
    return _repaired(Address(text.rstrip("/"), tuple(notes)), known)


def _repaired(address: Address, known_hosts: set[str]) -> Address:
    """The address refused with what it most likely meant, when its text is almost a name."""
    repaired = repair(address.text, known_hosts) if address.text is not None else None
    if repaired is None:
        return address
    return Address(None, address.notes, repaired.problem, repaired.meant)


def _searched(page: Address, text: str, query: str) -> Address:
    """A Docker Hub page with `?name=…` in its query: the tag list filtered by a search, which
    names no tag to mirror; the image with that tag is what its writer most likely meant."""
    searched = parse_qs(query).get(SEARCH_FILTER) if text.partition("/")[0].lower() in \
        DOCKER_HUB_SITES else None
    if not searched or page.text is None:
        return page
    tag = searched[0].strip()
    return Address(None, (*page.notes, message("the tag in ?name= is a search filter of Docker "
                                               "Hub's page, never read as the tag")),
                   message("no tag named: a Docker Hub page filtered by a search names no tag to "
                           "mirror; write the image and its tag"),
                   f"{page.text}:{tag}" if TAG_RE.match(tag) else None)


def _names_only_a_host(text: str) -> bool:
    """`docker.io`, `docker.io/`, `docker.io/docker.io`: a host with no repository after it."""
    bare = text.rstrip("/")
    if is_host(bare):
        return True
    first, sep, rest = bare.partition("/")
    return bool(sep) and is_host(first) and "/" not in rest and ":" not in rest and is_host(rest)


def _strip_prefix(text: str, own: Sequence[str], others: Mapping[str, str],
                  notes: list[Message]) -> str | None:
    """The text after a known mirror prefix (None when there is none), noting which."""
    lowered = text.lower()
    candidates = [(prefix.lower().rstrip("/"), "", True) for prefix in own if prefix]
    candidates += [(prefix, registry, False) for prefix, registry in others.items()]
    for prefix, registry, is_own in sorted(candidates, key=lambda c: -len(c[0])):
        if lowered.rstrip("/") == prefix:
            return ""
        if lowered.startswith(f"{prefix}/"):
            rest = text[len(prefix) + 1 :]
            if is_own:
                notes.append(message("%(prefix)s is this mirror's own address; the image behind "
                                     "it is requested from its source", prefix=f"{prefix}/"))
            elif registry:
                notes.append(message("%(prefix)s is another mirror's address for %(registry)s; the "
                                     "image is requested from %(registry)s itself",
                                     prefix=f"{prefix}/", registry=registry))
            else:
                notes.append(message("%(prefix)s is another mirror's prefix; the image is requested "
                                     "from its source registry", prefix=f"{prefix}/"))
            return f"{registry}/{rest}" if registry and rest else rest
    return None


def _page(text: str) -> Address | None:
    """Docker Hub, Quay and GitHub web pages: the image they show, or why they show none."""
    host, _, path = text.partition("/")
    host = host.lower()
    path = re.split(r"[?#]", path, maxsplit=1)[0].strip("/")
    if host in DOCKER_HUB_SITES and (host == "hub.docker.com" or path.startswith(("r/", "_/"))):
        return _docker_hub_page(text, path)
    if host == QUAY_SITE and len(parts := path.split("/")) == 3 and parts[2] in PAGE_SUFFIXES:
        return Address(f"quay.io/{parts[0]}/{parts[1]}")
    if host == QUAY_SITE and path.startswith("repository/"):
        parts = path.split("/")
        digest = f"@{parts[4]}" if len(parts) >= 5 and parts[3] == "manifest" else ""
        return Address(f"quay.io/{'/'.join(parts[1:3])}{digest}") if len(parts) >= 3 else _site(text)
    if host == "github.com":
        match = GITHUB_PACKAGE_RE.match(text)
        if not match:
            return Address(None, error=message(
                "no image named: '%(page)s' is a GitHub page; write the image, e.g. "
                "ghcr.io/fluxcd/flux-cli:v2.4.0", page=text))
        owner = (match.group(1) or match.group(2)).lower()
        return Address(f"ghcr.io/{owner}/{match.group(3).replace('%2F', '/').replace('%2f', '/')}")
    return None


def _docker_hub_page(text: str, path: str) -> Address:
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["v2"]:
        return _docker_hub_api(text, parts[1:])
    if parts[:1] == ["layers"] and len(parts) >= 4:
        namespace = "library" if parts[1] == "_" else parts[1]
        return Address(f"docker.io/{namespace}/{parts[2]}:{parts[3]}")
    if parts[:1] == ["layers"] and len(parts) == 3 and ":" in parts[2]:  # `layers/ns/name:tag`
        return Address(f"docker.io/{'library' if parts[1] == '_' else parts[1]}/{parts[2]}")
    if parts[:2] == ["repository", "docker"]:
        parts = parts[2:]
    elif parts[:1] in (["r"], ["_"]):
        parts = (["library"] if parts[0] == "_" else []) + parts[1:]
    elif parts[:1] in (["u"], ["search"], ["layers"], ["orgs"], ["repositories"]):
        return _site(text)
    if len(parts) > 2 and parts[2].lower() in PAGE_SUFFIXES:
        parts = parts[:2]
    if not parts:
        return _site(text)
    return Address(f"docker.io/{'/'.join(parts)}")


def _docker_hub_api(text: str, parts: list[str]) -> Address:
    """`v2/repositories/ns/repo[/tags[/tag]]` and `v2/namespaces/ns/repositories/repo/…`: Docker
    Hub's API address of a repository or a tag."""
    if parts[:1] == ["namespaces"] and parts[2:3] == ["repositories"]:
        parts = ["repositories", parts[1], *parts[3:]]
    if parts[:1] != ["repositories"] or len(parts) < 3 or parts[3:4] not in ([], ["tags"]) \
            or len(parts) > 5:
        return _site(text)
    tag = f":{parts[4]}" if len(parts) == 5 else ""
    return Address(f"docker.io/{parts[1]}/{parts[2]}{tag}", (message(
        "a Docker Hub API address: read as the image and tag it names"),))


def _site(text: str) -> Address:
    return Address(None, error=message("no image named: '%(page)s' is a web page; write the "
                                       "image's name, e.g. docker.io/library/nginx:1.27", page=text))


def _registry_api(text: str) -> str | None:
    """`host/v2/name/manifests/ref` -> `host/name:ref` (or `@digest`); `host/v2/name/tags/list`
    -> `host/name`; `host/v2/` -> `host/` (a host alone)."""
    host, sep, path = text.partition("/")
    if not sep or not is_host(host) or not (path == "v2" or path.startswith("v2/")):
        return None
    if manifest := API_MANIFEST_RE.match(path):
        name, ref = manifest.groups()
        return f"{host}/{name}{'@' if ':' in ref else ':'}{ref}"
    if tags := API_TAGS_RE.match(path):
        return f"{host}/{tags.group(1)}"
    return f"{host}/" if path.strip("/") == "v2" else None
