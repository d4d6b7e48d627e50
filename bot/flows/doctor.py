"""`mirror-bot doctor`: checks a set-up end to end, one line per check.

Rule: the doctor only looks. A push is checked with an upload started and cancelled, GitHub is
only read, no file is written. A configuration problem is a failed check (exit 1), never a
usage error (exit 2), so that one run lists everything that is wrong; a check that depends on a
failed one is skipped with the reason. Checks run in the order a set-up is built: skopeo, the
allowlist, registries.conf and the auth file, the configuration, each mirror, then GitHub.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, allowlist_path, load_config
from bot.errors import ConfigError, MirrorBotError, TransferError
from bot.flows.doctor_checks import Check, said
from bot.flows.doctor_mirrors import MirrorProbe, PushChecker, Role, check_mirror
from bot.forge.protocol import Forge
from bot.policy.allowlist_file import check_allowlist_file
from bot.policy.naming import DEFAULT_TEMPLATE
from bot.records.labels import Labels
from bot.registry.containers_conf import Credentials, RegistriesConf

Env = Mapping[str, str]
OLDEST_SKOPEO = (1, 9)  # the oldest skopeo the project is tested with (Debian's 1.9.3)


@dataclass(frozen=True)
class Edges:
    """How the doctor reaches skopeo, the mirrors and GitHub (built in cli.py)."""

    skopeo_version: Callable[[], str]
    credentials: Callable[[Config], Credentials]
    registry_client: Callable[[Config, Credentials], PushChecker]
    forge: Callable[[Env], Forge]


def diagnose(env: Env, edges: Edges) -> Iterator[Check]:
    """Every check, each as soon as it is done."""
    yield check_skopeo(edges.skopeo_version)
    allowlist = check_allowlist(env)
    yield allowlist
    conf = check_registries_conf(env)
    yield conf
    auth = check_auth_file(env)
    if auth is not None:
        yield auth
    config, loaded = check_configuration(env, allowlist_failed=allowlist.failing)
    yield loaded
    blocker = next((c.name for c in (conf, auth) if c is not None and c.failing), None)
    yield from check_mirrors(env, config, edges, blocker)
    yield from check_github(env, edges.forge)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(check.failing for check in checks) else 0


# -- tools and files --------------------------------------------------------------------------

def check_skopeo(version: Callable[[], str]) -> Check:
    try:
        found = version()
    except TransferError as error:
        return Check.failed("skopeo", said(error.message, ()),
                            "install skopeo 1.9 or newer (apt-get install skopeo)")
    numbers = tuple(int(part) for part in found.split("."))
    if numbers < OLDEST_SKOPEO:
        return Check.warning("skopeo", f"version {found} is older than 1.9, the oldest tested",
                             "install a newer skopeo")
    return Check.passed("skopeo", f"version {found}")


def check_allowlist(env: Env) -> Check:
    path = allowlist_path(env)
    allowlist, problems = check_allowlist_file(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check.failed("allowlist", f"{len(problems)} problem(s): {problems[0]}{more}",
                            f"run 'mirror-bot check-allowlist {path}' and fix them")
    return Check.passed("allowlist", f"{path}: {len(allowlist.allow)} allow, "
                        f"{len(allowlist.deny)} deny")


def check_registries_conf(env: Env) -> Check:
    path = env.get("CONTAINERS_REGISTRIES_CONF")
    if not path:
        return Check.skipped("registries.conf", "CONTAINERS_REGISTRIES_CONF is not set; "
                             "every image is pulled from the registry its name says")
    try:
        conf = RegistriesConf.load(Path(path))
    except ConfigError as error:
        return Check.failed("registries.conf", str(error),
                            "fix the file (containers-registries.conf(5), TOML) or unset "
                            "CONTAINERS_REGISTRIES_CONF")
    return Check.passed("registries.conf", f"{path}: {len(conf.entries)} registry entries")


def check_auth_file(env: Env) -> Check | None:
    """REGISTRY_AUTH_FILE, when set (the other mirrors' logins); None when it is not."""
    path = env.get("REGISTRY_AUTH_FILE")
    if not path:
        return None
    try:
        credentials = Credentials.from_auth_file(Path(path))
    except ConfigError as error:
        return Check.failed("auth file", str(error))
    hosts = ", ".join(sorted(credentials.logins)) or "none"
    return Check.passed("auth file", f"{path}: logins for {hosts}")


# -- configuration ----------------------------------------------------------------------------

def mirror_roles(env: Env, config: Config) -> list[tuple[str, Role]]:
    """Each mirror, the primary first, with whose credentials it is pushed."""
    ghcr_default = not (env.get("MIRROR_REGISTRY") or "").strip() and \
        not config.allowlist.settings.mirrors
    primary = Role.GHCR_DEFAULT if ghcr_default else Role.PRIMARY
    return [(config.mirror, primary), *((m, Role.SECONDARY) for m in config.namer.also)]


def describe(env: Env, config: Config) -> str:
    roles = mirror_roles(env, config)
    listed = ", ".join([f"{roles[0][0]} (primary)", *(mirror for mirror, _ in roles[1:])])
    source = ("the GHCR default inside GitHub Actions, pushed with GITHUB_TOKEN"
              if roles[0][1] is Role.GHCR_DEFAULT
              else "MIRROR_REGISTRY" if (env.get("MIRROR_REGISTRY") or "").strip()
              else "settings.mirror_registry")
    naming = "" if config.namer.template == DEFAULT_TEMPLATE else \
        f"; naming {config.namer.template}"
    return f"mirror{'s' if len(roles) > 1 else ''} {listed}, from {source}{naming}"


def check_configuration(env: Env, *, allowlist_failed: bool) -> tuple[Config | None, Check]:
    try:
        config = load_config(env)
    except ConfigError as error:
        if allowlist_failed:
            return None, Check.skipped("configuration", "it needs a valid allowlist (above)")
        return None, Check.failed("configuration", str(error))
    return config, Check.passed("configuration", describe(env, config))


# -- mirrors ----------------------------------------------------------------------------------

def check_mirrors(env: Env, config: Config | None, edges: Edges,
                  blocker: str | None) -> Iterator[Check]:
    if config is None:
        yield Check.skipped("mirrors", "the configuration did not load (above)")
        return
    roles = mirror_roles(env, config)
    if blocker is not None:
        for mirror, _ in roles:
            yield Check.skipped(f"mirror {mirror}", f"{blocker} must be fixed first (above)")
        return
    try:
        credentials = edges.credentials(config)
    except ConfigError as error:
        yield Check.failed("mirror credentials", str(error))
        return
    client = edges.registry_client(config, credentials)
    secrets = [*credentials.secrets(), *config.secrets, env.get("GITHUB_TOKEN") or ""]
    for mirror, role in roles:
        yield check_mirror(MirrorProbe(mirror, role, config, credentials), client, secrets)


# -- GitHub -----------------------------------------------------------------------------------

def check_github(env: Env, build_forge: Callable[[Env], Forge]) -> Iterator[Check]:
    """The token reads the repository's issues, and the request label exists; nothing is
    written."""
    missing = [name for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY") if not env.get(name)]
    if missing:
        verb = "are" if len(missing) > 1 else "is"
        yield Check.skipped("github", f"{' and '.join(missing)} {verb} not set (the token and "
                            "the request label are checked with GITHUB_TOKEN and GITHUB_REPOSITORY)")
        return
    repository = env["GITHUB_REPOSITORY"]
    label = env.get("MIRROR_REQUEST_LABEL") or Labels.request
    secrets = [env["GITHUB_TOKEN"]]
    try:
        forge = build_forge(env)
        requests = forge.open_request_issues(label)
    except MirrorBotError as error:
        yield Check.failed("github issues", f"cannot read {repository}'s issues: "
                           f"{said(str(error), secrets)}",
                           "check GITHUB_TOKEN and GITHUB_REPOSITORY, and give the job "
                           "`permissions: issues: read`")
        yield Check.skipped("github label", "reading the issues failed (above)")
        return
    yield Check.passed("github issues", f"the token reads {repository}'s issues "
                       f"({len(requests)} open request(s))")
    try:
        found = forge.has_label(label)
    except MirrorBotError as error:
        yield Check.failed("github label", f"cannot read label '{label}': "
                           f"{said(str(error), secrets)}", "check GITHUB_TOKEN")
        return
    if not found:
        yield Check.failed("github label", f"{repository} has no label '{label}'",
                           "create it (Issues → Labels → New label): the issue form applies "
                           "only labels that exist, and the workflow runs only on labelled issues")
        return
    yield Check.passed("github label", f"'{label}' exists in {repository}")
