"""`sync`'s reading of the images on its command line: the same rules as an issue's title."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_config
from bot.flows.sync_images import plan_images


def test_a_private_registry_the_allowlist_names_is_read_as_written(tmp_path: Path) -> None:
    # quay.ie is one letter from quay.io: a typo unless the allowlist names it.
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - quay.ie/acme/*\n  - quay.io/acme/*\n")
    config = load_config({"MIRROR_ALLOWLIST": str(allowlist), "MIRROR_REGISTRY": "m.example.io"})
    [image] = plan_images(["quay.ie/acme/app:1"], [], config).images
    assert (image.decision, str(image.source)) == ("allowed", "quay.ie/acme/app:1")
    allowlist.write_text("allow:\n  - quay.io/acme/*\n")
    [image] = plan_images(["quay.ie/acme/app:1"], [], load_config(
        {"MIRROR_ALLOWLIST": str(allowlist), "MIRROR_REGISTRY": "m.example.io"})).images
    assert image.decision == "invalid" and image.suggestion == "quay.io/acme/app:1"
