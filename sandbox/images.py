"""Build multi-platform OCI images in plain Python and push them with skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import subprocess
import tarfile
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
