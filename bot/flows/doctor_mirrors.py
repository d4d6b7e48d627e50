"""The doctor's mirror checks: each mirror answers, and our credentials for it can push.

Rule: a push is checked by starting a blob upload under the mirror and cancelling it (nothing is
committed), at the name the naming template gives a real image (`docker.io/library/
mirror-bot-doctor`), so a registry that refuses such names is found now, not at the first
request. When that name is refused and carries a '.' in a path component, the same upload is
tried at the name a dot-free template would give; only when that one is accepted does the doctor
say the registry refuses dots, and it names a template that `Namer.validate` accepts. Every
line names the mirror, and a refusal names the credentials to fix: MIRROR_USERNAME/PASSWORD
for the primary, REGISTRY_AUTH_FILE for the others, `packages: write` for the GHCR default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from bot.config import Config
from bot.errors import ConfigError, ErrorKind, MirrorBotError, TransferError
from bot.flows.doctor_checks import Check, said
from bot.image.reference import Reference
from bot.policy.naming import Namer
from bot.registry.containers_conf import Credentials

PROBE = Reference("docker.io", "library/mirror-bot-doctor")
# '-' first (the most readable); '_' never occurs in a host name, so it cannot collide.
DOT_REPLACEMENTS = ("-", "_")
UNREACHABLE = frozenset({ErrorKind.NETWORK, ErrorKind.TIMEOUT})
# How registries refuse a repository name: 400 NAME_INVALID (kind unknown), 404 NAME_UNKNOWN.
NAME_REFUSALS = frozenset({ErrorKind.UNKNOWN, ErrorKind.NOT_FOUND})


class PushChecker(Protocol):
    def check_push(self, repository: Reference) -> None: ...


class Role(Enum):
    """Whose credentials a mirror is pushed with, which decides what to fix."""

    PRIMARY = "primary"  # MIRROR_USERNAME/MIRROR_PASSWORD (or REGISTRY_AUTH_FILE)
    GHCR_DEFAULT = "GHCR default"  # GITHUB_TOKEN with packages: write
    SECONDARY = "secondary"  # REGISTRY_AUTH_FILE


@dataclass(frozen=True)
class MirrorProbe:
    """One mirror to check, and what the doctor knows about its credentials."""

    mirror: str
    role: Role
    config: Config
    credentials: Credentials

    @property
    def name(self) -> str:
        return f"mirror {self.mirror}"

    @property
    def namer(self) -> Namer:
        return replace(self.config.namer, mirror=self.mirror, also=())

    def has_login(self, target: Reference) -> bool:
        return self.credentials.for_name(target.name) is not None


def has_dot(target: Reference) -> bool:
    return any("." in component for component in target.repository.split("/"))


def check_mirror(probe: MirrorProbe, client: PushChecker, secrets: Iterable[str]) -> Check:
    """Start and cancel an upload at the probe image's name under `probe.mirror`."""
    secrets = tuple(secrets)
    try:
        target = probe.namer.target(PROBE)
    except MirrorBotError as error:
        return Check.failed(probe.name, f"the naming template cannot name {PROBE.name}: {error}",
                            "fix settings.target_template in the allowlist")
    try:
        client.check_push(target)
    except TransferError as error:
        return _refused(probe, client, target, error, secrets)
    return Check.passed(probe.name, f"answers, and our credentials can push to {target.name} "
                        f"({probe.role.value}; an upload was started and cancelled)")


def _refused(probe: MirrorProbe, client: PushChecker, target: Reference, error: TransferError,
             secrets: tuple[str, ...]) -> Check:
    message = said(error.message, secrets)
    if error.kind in UNREACHABLE:
        host = target.registry
        return Check.failed(probe.name, f"cannot reach {host} ({message})",
                            f"check the host and port of {probe.mirror} in {_where(probe)} and "
                            "that this machine can reach it")
    if error.kind is ErrorKind.MIRROR_UNAUTHORIZED:
        login = probe.has_login(target)
        problem = (f"{probe.mirror} refused our credentials for a push ({message})" if login
                   else f"we have no credentials for {probe.mirror} and it refused the push "
                        f"({message})")
        return Check.failed(probe.name, problem, credentials_fix(probe, login))
    if error.kind in NAME_REFUSALS and has_dot(target):
        advice = _dotless_advice(probe, client, target, message)
        if advice is not None:
            return advice
    return Check.failed(probe.name, f"cannot push to {target.name} ({message})",
                        f"check that {probe.mirror} accepts pushes to nested names like this one")


def _where(probe: MirrorProbe) -> str:
    return "the GHCR default (GITHUB_REPOSITORY_OWNER)" if probe.role is Role.GHCR_DEFAULT \
        else "MIRROR_REGISTRY or settings.mirror_registry"


def credentials_fix(probe: MirrorProbe, has_login: bool) -> str:
    """What to change when `probe.mirror` refuses our push."""
    mirror = probe.mirror
    if probe.role is Role.GHCR_DEFAULT:
        return ("give the job `permissions: packages: write` (GITHUB_TOKEN pushes to "
                f"{mirror}); a package another repository created first also needs this "
                "repository under 'Manage Actions access' in the package's settings")
    if probe.role is Role.SECONDARY:
        if probe.config.files.auth_file is None:
            return (f"set REGISTRY_AUTH_FILE to a containers auth.json with a login for {mirror} "
                    "(MIRROR_USERNAME/MIRROR_PASSWORD are the primary's only)")
        verb = "fix the login for" if has_login else "add a login for"
        return f"{verb} {mirror} in REGISTRY_AUTH_FILE ({probe.config.files.auth_file})"
    if not has_login:
        return f"set MIRROR_USERNAME and MIRROR_PASSWORD to a login that may push to {mirror}"
    if probe.config.mirror_setting.username and probe.config.mirror_setting.password:
        return (f"fix MIRROR_USERNAME/MIRROR_PASSWORD: {mirror} refused them (they need the "
                "right to push there)")
    return f"fix the login for {mirror} in REGISTRY_AUTH_FILE, or set MIRROR_USERNAME/MIRROR_PASSWORD"


def dotless_template(replacement: str) -> str:
    return f"{{{{ mirror }}}}/{{{{ registry | replace('.', '{replacement}') }}}}/{{{{ repository }}}}"


def safe_dotless_namer(config: Config) -> Namer | None:
    """The first dot-free naming that maps no two probe images onto one address."""
    for replacement in DOT_REPLACEMENTS:
        namer = Namer(config.mirror, dotless_template(replacement), also=config.namer.also)
        try:
            namer.validate()
        except ConfigError:
            continue
        return namer
    return None


def _dotless_advice(probe: MirrorProbe, client: PushChecker, target: Reference,
                    message: str) -> Check | None:
    """The advice for a registry that refuses '.' in path components, when an upload at the
    dot-free name succeeds; None when that is not what is wrong."""
    namer = safe_dotless_namer(probe.config)
    if namer is None:
        return None
    dotless = replace(namer, mirror=probe.mirror, also=()).target(PROBE)
    if has_dot(dotless):
        return None  # the mirror's own path has a dot: no template can help
    try:
        client.check_push(dotless)
    except TransferError:
        return None
    return Check.failed(
        probe.name,
        f"{probe.mirror} refuses '.' in path components: it refused {target.name} ({message}) "
        f"but accepted {dotless.name}",
        f'set `target_template: "{namer.template}"` under settings: in the allowlist '
        "(images whose own repository path has a '.' still cannot be mirrored there)")
