"""Platforms: `os/architecture[/variant]`, parsed in one place (as regclient's types/platform).

Rule: a platform is written `os/arch[/variant]` in lowercase, with a known OS; a bare
architecture means linux (`arm64` -> `linux/arm64`); common aliases are normalised the way
containerd does (`x86_64` -> `amd64`, `aarch64` -> `arm64`, `armhf` -> `arm/v7`, and the
default variants `arm64/v8` and `amd64/v1` are dropped). Matching an index entry ignores a
variant the request did not name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.messages import Message, message

KNOWN_OS = ("linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos",
            "aix", "android", "ios", "plan9", "wasip1", "js")
KNOWN_ARCHITECTURES = ("amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64",
                       "mips64le", "mips64", "mipsle", "mips", "loong64", "wasm")
# alias -> (architecture, variant)
ARCH_ALIASES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None), "x86-64": ("amd64", None), "x64": ("amd64", None),
    "aarch64": ("arm64", None), "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
    "armv7": ("arm", "v7"), "armv7l": ("arm", "v7"), "armv6": ("arm", "v6"),
    "armv6l": ("arm", "v6"), "i386": ("386", None), "i686": ("386", None),
}
DEFAULT_VARIANTS = {"arm64": "v8", "amd64": "v1"}
VARIANT_RE = re.compile(r"v[0-9]+(?:\.[0-9]+)?\Z", re.ASCII)


class InvalidPlatform(ValueError):
    """Text that is not `os/arch[/variant]`; the message says what to write instead."""

    def __init__(self, said: Message) -> None:
        super().__init__(str(said))
        self.said = said


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/arm64`, `linux/arm/v7`, `arm64`, `x86_64`; raise InvalidPlatform otherwise."""
        parts = text.strip().lower().split("/")
        if len(parts) == 1 and (parts[0] in KNOWN_ARCHITECTURES or parts[0] in ARCH_ALIASES):
            parts = ["linux", *parts]
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise InvalidPlatform(message("'%(text)s' is not a platform (write os/arch, e.g. "
                                          "linux/arm64)", text=text))
        os_name, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else None
        if os_name not in KNOWN_OS:
            raise InvalidPlatform(message("'%(text)s': unknown operating system '%(os)s' (write "
                                          "os/arch, e.g. linux/arm64)", text=text, os=os_name))
        arch, alias_variant = ARCH_ALIASES.get(arch, (arch, None))
        variant = variant or alias_variant
        if arch not in KNOWN_ARCHITECTURES:
            raise InvalidPlatform(message("'%(text)s': unknown architecture '%(architecture)s' "
                                          "(known: %(known)s)", text=text, architecture=arch,
                                          known=", ".join(KNOWN_ARCHITECTURES)))
        if variant is not None and not VARIANT_RE.match(variant):
            raise InvalidPlatform(message("'%(text)s': '%(variant)s' is not a variant (write e.g. "
                                          "v7)", text=text, variant=variant))
        if arch == "arm" and variant is None:
            variant = "v7"
        if DEFAULT_VARIANTS.get(arch) == variant:
            variant = None
        return cls(os_name, arch, variant)

    @classmethod
    def from_descriptor(cls, platform: Mapping[str, Any]) -> Platform:
        """The platform of an index entry's `platform` object (its fields as written)."""
        variant = platform.get("variant") or None
        arch = str(platform.get("architecture") or "?")
        if DEFAULT_VARIANTS.get(arch) == variant:
            variant = None
        return cls(str(platform.get("os") or "?"), arch, str(variant) if variant else None)

    def matches(self, platform: Mapping[str, Any]) -> bool:
        """True when an index entry's `platform` object is this platform."""
        other = Platform.from_descriptor(platform)
        if (other.os, other.architecture) != (self.os, self.architecture):
            return False
        return self.variant is None or other.variant == self.variant
