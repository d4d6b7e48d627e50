"""Build multi-platform OCI images in plain Python and push them with skopeo; and what travels
with an image — cosign signature tags, OCI 1.1 referrers (SBOMs, signatures on them), Helm
charts — pushed over the registry API itself (skopeo cannot write a referrer or a chart)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import subprocess
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class BuiltImage:
    layout: Path
    tag: str
    index_digest: str
    manifests: dict[str, str]  # platform -> manifest digest
    blobs: frozenset[str]
    total_size: int


def _write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)


def _layer(seed: str, size: int) -> bytes:
    payload = random.Random(seed).randbytes(size)  # noqa: S311 - test data, not secrets
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"data/{hashlib.sha256(seed.encode()).hexdigest()[:12]}")
        info.size = size
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(tar_buffer.getvalue(), mtime=0)


def build_image(
    layout: Path,
    tag: str,
    *,
    seed: str = "image",
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS,
    layer_sizes: tuple[int, ...] = (2048, 1024),
    shared_base: str | None = "base",
    shared_layers: int = 1,
    attestation: bool = False,
) -> BuiltImage:
    """Write an OCI layout with one index of `platforms`; the first layer is shared when
    `shared_base` is set, the others are unique to `seed` and the platform."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    blobs: set[str] = set()
    entries, manifests, total = [], {}, 0
    for platform in platforms:
        os_name, arch, *variant = platform.split("/")
        layers = []
        for position, size in enumerate(layer_sizes):
            layer_seed = (f"{shared_base}/{platform}/{position}"
                          if position < shared_layers and shared_base
                          else f"{seed}/{platform}/{position}")
            digest, length = _write_blob(layout, _layer(layer_seed, size))
            blobs.add(digest)
            total += length
            layers.append({"mediaType": OCI_LAYER, "digest": digest, "size": length})
        config = {"architecture": arch, "os": os_name,
                  "rootfs": {"type": "layers", "diff_ids": [f"sha256:{'0' * 64}"] * len(layers)},
                  "config": {"Labels": {"seed": seed}}}
        if variant:
            config["variant"] = variant[0]
        config_digest, config_size = _write_blob(layout, json.dumps(config).encode())
        blobs.add(config_digest)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                    "layers": layers}
        manifest_digest, manifest_size = _write_blob(layout, json.dumps(manifest).encode())
        manifests[platform] = manifest_digest
        descriptor_platform = {"architecture": arch, "os": os_name}
        if variant:
            descriptor_platform["variant"] = variant[0]
        entries.append({"mediaType": OCI_MANIFEST, "digest": manifest_digest,
                        "size": manifest_size, "platform": descriptor_platform})
    if attestation:
        entries.append(_attestation(layout, seed, entries[0]["digest"], blobs))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    index_digest, index_size = _write_blob(layout, json.dumps(index).encode())
    layout_index_path = layout / "index.json"
    existing = json.loads(layout_index_path.read_text()) if layout_index_path.exists() else {
        "schemaVersion": 2, "manifests": []}
    existing["manifests"] = [
        m for m in existing["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ] + [{"mediaType": OCI_INDEX, "digest": index_digest, "size": index_size,
          "annotations": {"org.opencontainers.image.ref.name": tag}}]
    layout_index_path.write_text(json.dumps(existing))
    return BuiltImage(layout, tag, index_digest, manifests, frozenset(blobs), total)


def _attestation(layout: Path, seed: str, subject: str, blobs: set[str]) -> dict:
    """A BuildKit-style attestation manifest, listed in the index as unknown/unknown."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "seed": seed}).encode()
    layer_digest, layer_size = _write_blob(layout, statement)
    config_digest, config_size = _write_blob(layout, b'{"architecture":"unknown","os":"unknown"}')
    blobs.update({layer_digest, config_digest})
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": layer_digest,
                            "size": layer_size}]}
    digest, size = _write_blob(layout, json.dumps(manifest).encode())
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": subject}}


def push(image: BuiltImage, destination: str, *, creds: str | None = None,
         token: str | None = None) -> None:
    """`skopeo copy --all --preserve-digests` the layout to docker://destination (plain HTTP)."""
    argv = ["skopeo", "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false"]
    if creds:
        argv += ["--dest-creds", creds]
    if token:
        argv += ["--dest-registry-token", token]
    argv += [f"oci:{image.layout}:{image.tag}", f"docker://{destination}"]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def push_artifact(layout: Path, tag: str, payload: bytes, destination: str) -> str:
    """Push a one-layer artifact (a stand-in for a cosign signature); return its digest."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    layer_digest, layer_size = _write_blob(layout, payload)
    config_digest, config_size = _write_blob(layout, b"{}")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                            "digest": layer_digest, "size": layer_size}]}
    manifest_bytes = json.dumps(manifest).encode()
    digest, size = _write_blob(layout, manifest_bytes)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    subprocess.run(["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                    f"oci:{layout}:{tag}", f"docker://{destination}"],
                   check=True, capture_output=True, timeout=60)
    return digest


# -- what travels with an image: signatures, SBOMs, charts (pushed over HTTP, no skopeo) ---------

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


Login = tuple[str, str] | None  # a registry's user and password (htpasswd: Basic on each request)


def _http(method: str, url: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, auth: Login = None) -> tuple[int, dict[str, str], bytes]:
    headers = dict(headers or {})
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def put_blob(host: str, repository: str, data: bytes, media_type: str, auth: Login = None) -> dict:
    """Upload `data` as one blob (POST, then PUT with the digest); its descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = _http("POST", f"http://{host}/v2/{repository}/blobs/uploads/", auth=auth)
    if status != 202:
        raise RuntimeError(f"upload to {host}/{repository}: HTTP {status}")
    location = urllib.parse.urljoin(f"http://{host}/", headers["Location"])
    separator = "&" if "?" in location else "?"
    status, _, _ = _http("PUT", f"{location}{separator}digest={digest}", data,
                         {"Content-Type": "application/octet-stream"}, auth)
    if status != 201:
        raise RuntimeError(f"blob {digest} to {host}/{repository}: HTTP {status}")
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def put_manifest(host: str, repository: str, reference: str, manifest: dict,
                 media_type: str = OCI_MANIFEST, *, auth: Login = None) -> tuple[str, bytes, dict[str, str]]:
    """Put `manifest` under `reference` (a tag, or "" for its digest); (digest, bytes, the
    answer's headers)."""
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    status, headers, _ = _http("PUT", f"http://{host}/v2/{repository}/manifests/{reference or digest}",
                               body, {"Content-Type": media_type}, auth)
    if status != 201:
        raise RuntimeError(f"manifest {reference or digest} to {host}/{repository}: HTTP {status}")
    return digest, body, headers


def get_manifest(host: str, repository: str, reference: str, auth: Login = None) -> bytes | None:
    status, _, body = _http("GET", f"http://{host}/v2/{repository}/manifests/{reference}",
                            headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}, auth=auth)
    return body if status == 200 else None


def descriptor_of(digest: str, body: bytes, media_type: str = OCI_MANIFEST) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": len(body)}


def cosign_signature(host: str, repository: str, subject: str, *, seed: str = "sig") -> str:
    """A cosign-style signature of `subject` under its tag `sha256-<hex>.sig` (cosign's older
    convention: a simplesigning payload layer with the signature in an annotation); its digest."""
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"{host}/{repository}"},
                                       "image": {"docker-manifest-digest": subject},
                                       "type": "cosign container image signature"},
                          "optional": {"seed": seed}}).encode()
    layer = put_blob(host, repository, payload, COSIGN_SIMPLESIGNING)
    layer["annotations"] = {COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(
        hashlib.sha256(payload).digest()).decode()}
    config = put_blob(host, repository, b"{}", OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    return put_manifest(host, repository, f"{subject.replace(':', '-')}.sig", manifest)[0]


def attach(host: str, repository: str, subject: dict, artifact_type: str, payload: bytes, *,
           annotations: dict[str, str] | None = None, tag_schema: bool = True,
           auth: Login = None) -> dict:
    """Attach `payload` to `subject` (a descriptor) as an OCI 1.1 referrer (by `subject`, as
    oras attach and cosign v3 do), put by its digest; with `tag_schema`, also listed in the
    subject's `sha256-<hex>` index (merged with what is there), as clients must where the
    registry has no referrers API. Returns the referrer's descriptor as an index lists it."""
    layer = put_blob(host, repository, payload, artifact_type, auth)
    config = put_blob(host, repository, b"{}", EMPTY_CONFIG, auth)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                "config": config, "layers": [layer],
                "subject": {k: subject[k] for k in ("mediaType", "digest", "size")}}
    if annotations:
        manifest["annotations"] = annotations
    digest, body, _ = put_manifest(host, repository, "", manifest, auth=auth)
    descriptor = {**descriptor_of(digest, body), "artifactType": artifact_type}
    if annotations:
        descriptor["annotations"] = annotations
    if tag_schema:
        list_under_tag(host, repository, subject["digest"], [descriptor], auth)
    return descriptor


def list_under_tag(host: str, repository: str, subject: str, descriptors: list[dict],
                   auth: Login = None, *, replace: bool = False) -> str:
    """Add `descriptors` to the tag schema's index of `subject` (with `replace`, write them
    alone, as a writer that read it earlier would); the index's digest. distribution checks
    that every manifest an index lists is in the repository."""
    tag = subject.replace(":", "-")
    present = None if replace else get_manifest(host, repository, tag, auth)
    listed = json.loads(present)["manifests"] if present else []
    known = {entry["digest"] for entry in listed}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": listed + [d for d in descriptors if d["digest"] not in known]}
    return put_manifest(host, repository, tag, index, OCI_INDEX, auth=auth)[0]


def chart_archive(name: str, version: str) -> bytes:
    """A chart's .tgz as `helm package` lays it out: `<name>/Chart.yaml`, `values.yaml`,
    `templates/`."""
    files = {
        f"{name}/Chart.yaml": (f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: "
                               f"\"7.4.0\"\ndescription: A test chart shaped like {name}'s\n"
                               "type: application\n"),
        f"{name}/values.yaml": "image:\n  registry: docker.io\n  repository: library/redis\n"
                               "  tag: 7.4.0\n",
        f"{name}/templates/NOTES.txt": "installed\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def push_chart(host: str, repository: str, name: str, version: str) -> str:
    """A Helm chart as `helm push` stores it (config: Chart.yaml's fields as JSON in Helm's
    config type; one layer: the chart archive), tagged `version` (`+` as `_`); its digest."""
    config_data = json.dumps({"name": name, "version": version, "apiVersion": "v2",
                              "appVersion": "7.4.0", "type": "application"}).encode()
    config = put_blob(host, repository, config_data, HELM_CONFIG)
    layer = put_blob(host, repository, chart_archive(name, version), HELM_CHART)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer],
                "annotations": {"org.opencontainers.image.title": name,
                                "org.opencontainers.image.version": version}}
    return put_manifest(host, repository, version.replace("+", "_"), manifest)[0]


@dataclass(frozen=True)
class SignedImage:
    """A 2-platform image and what travels with it (issue 26's upstream): a cosign signature tag
    for the index and one for one platform's manifest, an SBOM attached by `subject` to that
    platform and listed under the tag schema (or by the API), and a signature on the SBOM."""

    image: BuiltImage
    repository: str
    index_signature: str  # digest of sha256-<index>.sig
    platform: str
    platform_signature: str  # digest of sha256-<platform manifest>.sig
    sbom: dict  # descriptor of the SBOM referrer (subject: the platform's manifest)
    sbom_signature: dict  # descriptor of a notation signature on the SBOM (depth 2)
    index_signature_referrer: dict  # descriptor of a sigstore bundle on the index (by subject)

    @property
    def referrer_digests(self) -> set[str]:
        return {self.sbom["digest"], self.sbom_signature["digest"],
                self.index_signature_referrer["digest"]}


def push_signed_image(workdir: Path, host: str, repository: str, tag: str, *, seed: str,
                      tag_schema: bool = True) -> SignedImage:
    """Build and push a signed 2-platform image with its signatures and SBOM (see SignedImage);
    `tag_schema` False leaves the listing to a registry that keeps the referrers API."""
    image = build_image(workdir / f"{seed}-layout", tag, seed=seed)
    push(image, f"{host}/{repository}:{tag}")
    index_signature = cosign_signature(host, repository, image.index_digest, seed=f"{seed}/index")
    platform = DEFAULT_PLATFORMS[0]
    platform_digest = image.manifests[platform]
    platform_signature = cosign_signature(host, repository, platform_digest, seed=f"{seed}/{platform}")
    platform_body = get_manifest(host, repository, platform_digest)
    index_body = get_manifest(host, repository, image.index_digest)
    assert platform_body is not None and index_body is not None
    sbom = attach(host, repository, descriptor_of(platform_digest, platform_body),
                  "application/spdx+json",
                  json.dumps({"spdxVersion": "SPDX-2.3", "name": seed}).encode(),
                  annotations={"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
                  tag_schema=tag_schema)
    sbom_signature = attach(host, repository, sbom, "application/vnd.cncf.notary.signature",
                            f"notation signature of {sbom['digest']}".encode(),
                            annotations={"io.cncf.notary.x509chain.thumbprint#S256": "[\"ab\"]"},
                            tag_schema=tag_schema)
    bundle = attach(host, repository, descriptor_of(image.index_digest, index_body, OCI_INDEX),
                    "application/vnd.dev.sigstore.bundle.v0.3+json",
                    json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                "messageSignature": {"seed": seed}}).encode(),
                    annotations={"dev.sigstore.bundle.content": "message-signature"},
                    tag_schema=tag_schema)
    return SignedImage(image, repository, index_signature, platform, platform_signature, sbom,
                       sbom_signature, bundle)
