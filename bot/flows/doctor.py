"""`mirror-bot doctor`: checks a set-up end to end, one line per check.

Rule: the doctor only looks. A push is checked with an upload started and cancelled, a pull
quota with a manifest HEAD (no pull), GitHub is only read, no file is written. A configuration
problem is a failed check (exit 1), never a usage error (exit 2), so that one run lists
everything that is wrong; a check that depends on a failed one is skipped with the reason.
Checks run in the order a set-up is built: skopeo, the allowlist, registries.conf and the auth
file, the configuration, each mirror, the pull quota of each quota-limited registry (a warning
at most: bot/flows/doctor_quota.py), then GitHub.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.config import CONFIG_SECTIONS, Config, GitHubSettings, Loaded, MirrorSource, Problem, Section
from bot.errors import ConfigError, MirrorBotError, TransferError
from bot.flows.doctor_checks import Check, said
from bot.flows.doctor_mirrors import MirrorProbe, PushChecker, Role, check_mirror
from bot.flows.doctor_quota import QuotaProbe, check_quotas
from bot.forge.protocol import Forge
from bot.policy.allowlist_file import check_allowlist_file
from bot.policy.naming import DEFAULT_TEMPLATE
from bot.redaction import Secrets
from bot.registry.containers_conf import Credentials, RegistriesConf

OLDEST_SKOPEO = (1, 9)  # the oldest skopeo the project is tested with (Debian's 1.9.3)


class DoctorClient(PushChecker, QuotaProbe, Protocol):
    """What the doctor asks of the registry client: a push check, a HEAD and its quota."""


@dataclass(frozen=True)
class Edges:
    """How the doctor reaches skopeo, the mirrors and GitHub (built in bot/commands/tools.py)."""

    skopeo_version: Callable[[], str]
    credentials: Callable[[Config], Credentials]
    registry_client: Callable[[Config, Credentials], DoctorClient]
    forge: Callable[[], Forge]  # GitHub, from the configuration's GitHub settings


def diagnose(loaded: Loaded, edges: Edges) -> Iterator[Check]:
    """Every check, each as soon as it is done: the configuration's problems, each on its own
    line, and what the doctor probes."""
    yield check_skopeo(edges.skopeo_version)
    allowlist = check_allowlist(loaded.files.allowlist)
    yield allowlist
    conf = check_registries_conf(loaded.files.registries_conf)
    yield conf
    auth = check_auth_file(loaded.files.auth_file)
    if auth is not None:
        yield auth
    checks, config = check_configuration(loaded, allowlist_failed=allowlist.failing)
    yield from checks
    blocker = next((c.name for c in (conf, auth) if c is not None and c.failing), None)
    yield from check_mirrors(config, edges, blocker)
    yield from check_github(loaded.github, loaded.problems_in(Section.GITHUB),
                            loaded.labels.request, edges.forge, loaded.secret_set)


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


def check_allowlist(path: Path) -> Check:
    allowlist, problems = check_allowlist_file(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check.failed("allowlist", f"{len(problems)} problem(s): {problems[0]}{more}",
                            f"run 'mirror-bot check-allowlist {path}' and fix them")
    return Check.passed("allowlist", f"{path}: {len(allowlist.allow)} allow, "
                        f"{len(allowlist.deny)} deny")


def check_registries_conf(path: Path | None) -> Check:
    if path is None:
        return Check.skipped("registries.conf", "CONTAINERS_REGISTRIES_CONF is not set; "
                             "every image is pulled from the registry its name says")
    try:
        conf = RegistriesConf.load(path)
    except ConfigError as error:
        return Check.failed("registries.conf", str(error),
                            "fix the file (containers-registries.conf(5), TOML) or unset "
                            "CONTAINERS_REGISTRIES_CONF")
    return Check.passed("registries.conf", f"{path}: {len(conf.entries)} registry entries")


def check_auth_file(path: Path | None) -> Check | None:
    """REGISTRY_AUTH_FILE, when set (the other mirrors' logins); None when it is not."""
    if path is None:
        return None
    try:
        credentials = Credentials.from_auth_file(path)
    except ConfigError as error:
        return Check.failed("auth file", str(error))
    hosts = ", ".join(sorted(credentials.logins)) or "none"
    return Check.passed("auth file", f"{path}: logins for {hosts}")


# -- configuration ----------------------------------------------------------------------------

def mirror_roles(config: Config) -> list[tuple[str, Role]]:
    """Each mirror, the primary first, with whose credentials it is pushed."""
    primary = Role.GHCR_DEFAULT if config.mirror_setting.source is MirrorSource.GHCR_DEFAULT \
        else Role.PRIMARY
    return [(config.mirror, primary), *((m, Role.SECONDARY) for m in config.namer.also)]


def describe(config: Config) -> str:
    roles = mirror_roles(config)
    listed = ", ".join([f"{roles[0][0]} (primary)", *(mirror for mirror, _ in roles[1:])])
    naming = "" if config.namer.template == DEFAULT_TEMPLATE else \
        f"; naming {config.namer.template}"
    source = config.mirror_setting.source.value
    return f"mirror{'s' if len(roles) > 1 else ''} {listed}, from {source}{naming}"


def check_configuration(loaded: Loaded, *,
                        allowlist_failed: bool) -> tuple[list[Check], Config | None]:
    """One line for a configuration that loaded, else one failed line per problem. An
    allowlist that did not load was reported by its own check: what needs it is skipped."""
    problems: list[Problem] = loaded.problems_in(*CONFIG_SECTIONS)
    if not problems:
        config = loaded.config()
        return [Check.passed("configuration", describe(config))], config
    checks = []
    if allowlist_failed and loaded.problems_in(Section.ALLOWLIST):
        checks.append(Check.skipped("configuration", "it needs a valid allowlist (above)"))
        problems = [p for p in problems if p.section is not Section.ALLOWLIST]
    return [*checks, *(Check.failed("configuration", str(p)) for p in problems)], None


# -- mirrors ----------------------------------------------------------------------------------

def check_mirrors(config: Config | None, edges: Edges, blocker: str | None) -> Iterator[Check]:
    if config is None:
        yield Check.skipped("mirrors", "the configuration did not load (above)")
        return
    roles = mirror_roles(config)
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
    secrets = config.secret_set  # every form of every password, the auth file's included
    for mirror, role in roles:
        yield check_mirror(MirrorProbe(mirror, role, config, credentials), client, secrets)
    yield from check_quotas(config.allowlist.settings.quota_registries, client,
                            RegistriesConf.load(config.files.registries_conf), credentials, secrets)


# -- GitHub -----------------------------------------------------------------------------------

def check_github(github: GitHubSettings, problems: list[Problem], label: str,
                 build_forge: Callable[[], Forge], secrets: Secrets) -> Iterator[Check]:
    """The GitHub settings are valid, the token reads the repository's issues, and the request
    label exists; nothing is written."""
    for problem in problems:
        yield Check.failed("github settings", str(problem))
    missing = [name for name, value in (("GITHUB_TOKEN", github.token),
                                        ("GITHUB_REPOSITORY", github.repository)) if not value]
    if missing:
        verb = "are" if len(missing) > 1 else "is"
        yield Check.skipped("github", f"{' and '.join(missing)} {verb} not set (the token and "
                            "the request label are checked with GITHUB_TOKEN and GITHUB_REPOSITORY)")
        return
    if problems:
        yield Check.skipped("github", "the GitHub settings must be fixed first (above)")
        return
    repository = github.repository
    try:
        forge = build_forge()
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
