"""The reference grammar as small composable regular expressions, after distribution/reference's
regexp.go: the one place in `bot/` where a digest, a tag, a tag glob or a tag pattern is written.

Rule: the pieces are strings that compose (`rf"{DOMAIN}/{PATH_COMPONENT}"`); `full` anchors one
and compiles it ASCII-only, so look-alike characters never match. Every other module checks
text with the compiled patterns below (or composes the pieces), never with a pattern of its own.
- a path component: lowercase alphanumerics joined by one separator (`.`, `_`, `__`, `-` runs);
- a domain: a DNS name or a bracketed IPv6 address, and an optional port;
- a tag: a word character, then up to 127 word characters, `.` and `-`;
- a digest: `algorithm:hex` in general (reference.py checks the length per algorithm); the
  digest the bot reads from registries and writes in its records is `sha256:` and 64 lowercase
  hex characters, and those 64 alone are an image ID (never a name);
- a tag glob (allowlist patterns, a subscription's `match`): 1 to 128 tag characters and
  fnmatch's `*`, `?`, `[`, `]`, `!`;
- a tag pattern (a request's `nginx:1.27.*`): a tag in which `*` and `?` may stand for tag
  characters, so it starts as a tag does (never with `.` or `-`) and has at most 128 characters.
"""

from __future__ import annotations

import re

# A path component of a repository name.
ALPHANUMERIC = r"[a-z0-9]+"
SEPARATOR = r"(?:[._]|__|-+)"
PATH_COMPONENT = rf"{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*"
# A registry: a DNS name or a bracketed IPv6 address, and an optional port.
DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN_NAME = rf"{DOMAIN_NAME_COMPONENT}(?:\.{DOMAIN_NAME_COMPONENT})*"
IPV6_ADDRESS = r"\[[a-fA-F0-9:]+\]"
HOST = rf"(?:{DOMAIN_NAME}|{IPV6_ADDRESS})"
DOMAIN = rf"{HOST}(?::[0-9]+)?"
# Tags and what stands for several: the three differ only in their wildcards.
MAX_TAG_LENGTH = 128
TAG = rf"\w[\w.-]{{0,{MAX_TAG_LENGTH - 1}}}"
TAG_GLOB = rf"[\w.*?\[\]!-]{{1,{MAX_TAG_LENGTH}}}"
TAG_PATTERN = rf"[\w*?][\w.*?-]{{0,{MAX_TAG_LENGTH - 1}}}"
# Digests. IDENTIFIER is the one place the length of a sha256 in hex is written.
HEX = r"[0-9a-f]"
IDENTIFIER = rf"{HEX}{{64}}"
SHA256 = "sha256"
SHA256_DIGEST = rf"{SHA256}:{IDENTIFIER}"
DIGEST_ALGORITHM = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
DIGEST_HEX = r"[0-9a-fA-F]+"  # any length and case: reference.py says what is wrong with it
DIGEST = rf"{DIGEST_ALGORITHM}:{DIGEST_HEX}"


def full(pattern: str) -> re.Pattern[str]:
    """`pattern` matching a whole text (with `.match`), ASCII-only."""
    return re.compile(rf"(?:{pattern})\Z", re.ASCII)


PATH_COMPONENT_RE = full(PATH_COMPONENT)
DOMAIN_RE = full(DOMAIN)
TAG_RE = full(TAG)
TAG_GLOB_RE = full(TAG_GLOB)
TAG_PATTERN_RE = full(TAG_PATTERN)
IMAGE_ID_RE = full(IDENTIFIER)
SHA256_DIGEST_RE = full(SHA256_DIGEST)
DIGEST_RE = full(DIGEST)
