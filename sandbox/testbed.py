"""The test bed: real distribution registries on loopback (an upstream, a password-protected
mirror and a password-protected private upstream), a registries.conf that maps realistic names
onto them, and an allowlist. Tests, the benchmark and the demo build on it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, load_config
from bot.copy.syncer import Syncer
from bot.registry.backoff import Backoff
from bot.registry.client import RegistryClient
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.skopeo import Skopeo
from sandbox.images import BuiltImage, build_image, push
from sandbox.registries import Registry, start_registry, write_registries_conf

MIRROR_USER, MIRROR_PASSWORD = "mirror-pusher", "fake-mirror-password-7f3a"
SOURCE_USER, SOURCE_PASSWORD = "reader", "fake-source-password-91c2"


@dataclass
class Sandbox:
    upstream: Registry
    mirror: Registry
    private: Registry  # an htpasswd-protected upstream
    registries_conf: Path
    allowlist: Path
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "GITHUB_"))}
        env.update(
            CONTAINERS_REGISTRIES_CONF=str(self.registries_conf),
            MIRROR_REGISTRY=self.mirror.host,
            MIRROR_USERNAME=MIRROR_USER,
            MIRROR_PASSWORD=MIRROR_PASSWORD,
            MIRROR_ALLOWLIST=str(self.allowlist),
            MIRROR_RETRY_BASE_DELAY="0.01",
            MIRROR_BLOB_CACHE="off",  # tests share one mirror: a cache would link them
        )
        env.update(extra)
        return env

    def config(self, **extra: str) -> Config:
        return load_config(self.env(**extra))

    def client(self, *, with_mirror_creds: bool = True) -> RegistryClient:
        credentials = Credentials()
        if with_mirror_creds:
            credentials.add(self.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        return RegistryClient(RegistriesConf.load(self.registries_conf), credentials, timeout=10,
                              retry=Backoff(2, 0.01), mirrors=[self.mirror.host])

    def syncer(self, max_size: int | None = None) -> Syncer:
        credentials = Credentials()
        credentials.add(self.mirror.host, MIRROR_USER, MIRROR_PASSWORD)
        return Syncer(
            registry=RegistryClient(RegistriesConf.load(self.registries_conf), credentials, 10,
                                    retry=Backoff(2, 0.01), mirrors=[self.mirror.host]),
            copier=Skopeo(self.registries_conf, credentials, timeout=120),
            retry=Backoff(attempts=2, base_delay=0.01),
            max_size=max_size,
        )

    def seed(self, name: str, tag: str = "1.0", *, seed: str | None = None,
             platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64"),
             layer_sizes: tuple[int, ...] = (4096, 2048), registry: Registry | None = None,
             prefix: str = "docker.io") -> BuiltImage:
        """Build an image and push it upstream as `<prefix>/<name>:<tag>` (realistic name)."""
        layout = self.workdir / "layouts" / re.sub(r"[^a-z0-9]+", "-", f"{name}-{tag}-{seed}")
        image = build_image(layout, tag, seed=seed or name, platforms=platforms,
                            layer_sizes=layer_sizes)
        target = registry or self.upstream
        creds = f"{SOURCE_USER}:{SOURCE_PASSWORD}" if target is self.private else None
        path = f"library/{name}" if prefix == "docker.io" and "/" not in name else name
        push(image, f"{target.host}/{prefix}/{path}:{tag}", creds=creds)
        return image


ALLOWLIST = """
allow:
  - docker.io/library/*
  - docker.io/team/**
  - ghcr.io/acme/*
  - quay.io/acme/*
  - registry.k8s.io/**
  - private.example.io/**
deny:
  - docker.io/library/forbidden
settings:
  max_images_per_issue: 10
  max_image_size: 1MiB
"""


@contextmanager
def running_testbed(root: Path) -> Iterator[Sandbox]:
    """Start the three registries under `root`; stop them on exit."""
    registries = []
    try:
        upstream = start_registry(root / "upstream")
        registries.append(upstream)
        mirror = start_registry(root / "mirror", {MIRROR_USER: MIRROR_PASSWORD})
        registries.append(mirror)
        private = start_registry(root / "private", {SOURCE_USER: SOURCE_PASSWORD})
        registries.append(private)
        conf = write_registries_conf(root / "registries.conf", upstream.host, [mirror.host])
        with conf.open("a") as handle:
            handle.write(f'\n[[registry]]\nprefix = "private.example.io"\n'
                         f'location = "{private.host}/private.example.io"\ninsecure = true\n'
                         f'\n[[registry]]\nlocation = "{private.host}"\ninsecure = true\n')
        allowlist = root / "allowlist.yaml"
        allowlist.write_text(ALLOWLIST)
        yield Sandbox(upstream, mirror, private, conf, allowlist, root)
    finally:
        for registry in registries:
            registry.stop()


def tools_installed() -> bool:
    return bool(shutil.which("skopeo") and shutil.which("docker-registry"))
