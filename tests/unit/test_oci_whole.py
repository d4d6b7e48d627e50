"""Which manifests the engine puts at the mirror itself, from the bytes it read
(bot/image/oci.py's whole_by_blobs), and which it leaves to skopeo."""

from __future__ import annotations

import json

import pytest

from bot.image.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Manifest, whole_by_blobs

CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json",
          "digest": "sha256:" + "1" * 64, "size": 10}
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": "sha256:" + "2" * 64, "size": 20}


def manifest(media_type: str, **fields: object) -> Manifest:
    return Manifest.from_bytes(json.dumps({"schemaVersion": 2, "mediaType": media_type,
                                           **fields}).encode(), media_type)


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_an_image_of_plain_blobs_is_put_from_its_bytes(media_type: str) -> None:
    assert whole_by_blobs(manifest(media_type, config=CONFIG, layers=[LAYER]))
    assert whole_by_blobs(manifest(media_type, config=CONFIG, layers=[]))


@pytest.mark.parametrize(("why", "made"), [
    ("an index", manifest(OCI_INDEX, manifests=[])),
    ("schema 1", Manifest.from_bytes(b'{"schemaVersion": 1}',
                                      "application/vnd.docker.distribution.manifest.v1+prettyjws")),
    ("a foreign layer", manifest(DOCKER_MANIFEST, config=CONFIG,
                                 layers=[{**LAYER, "urls": ["https://example.com/layer"]}])),
    ("a layer without a size", manifest(OCI_MANIFEST, config=CONFIG,
                                        layers=[{"digest": LAYER["digest"]}])),
    ("no config", manifest(OCI_MANIFEST, layers=[LAYER])),
])
def test_what_skopeo_copies(why: str, made: Manifest) -> None:
    assert not whole_by_blobs(made), why
