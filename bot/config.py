"""Configuration: the environment the process entry hands in, and the allowlist's settings,
read once and checked section by section.

Rule: this module and bot/cli.py are the only ones that see the environment; everything else
receives the values read here. `read_config` never raises: it checks every section and collects
every problem (a ConfigError message naming the variable and what to write instead), so
`doctor` can list each. A command asks for the sections it needs (`Loaded.config`,
`Loaded.require`) and gets a ConfigError for the first problem among those (exit 2, nothing
done): a bad GitHub setting does not stop `plan` or `sync`. Environment variables win over file
settings; nothing here touches the network. There is no placeholder mirror: with no mirror
configured, inside GitHub Actions the mirror is the repository owner's GHCR namespace pushed
with the workflow's token, and anywhere else it is an error naming MIRROR_REGISTRY. skopeo gets
an environment built here, without the tokens and passwords this process holds. The run's one
secret set (bot/redaction.py's `Secrets`) is built here too, from every login and token the
environment names (the mirror's, REGISTRY_AUTH_FILE's, GITHUB_TOKEN), before anything runs:
the adapters add the registry tokens they obtain to it, and every output channel redacts by it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TypeVar

from bot import units
from bot.copy.settings import DEFAULT_COPY_PROCESSES, EngineSettings
from bot.errors import ConfigError
from bot.forge.protocol import DEFAULT_BOT_LOGIN
from bot.policy.allowlist import Allowlist
from bot.policy.allowlist_file import load_allowlist
from bot.policy.naming import DEFAULT_TEMPLATE, Namer, parse_mirror_registries
from bot.records.labels import Labels
from bot.redaction import Secrets
from bot.registry.backoff import Backoff
from bot.registry.containers_conf import Credentials
from bot.request.address import DEFAULT_MIRROR_PREFIXES

GHCR = "ghcr.io"
T = TypeVar("T")
# What skopeo inherits: where it runs and how it reaches registries. HOME keeps
# containers/image's blob-info cache (which tells it where a blob can be mounted from); tokens,
# passwords and everything else stay in this process.
CHILD_VARIABLES = (
    # XDG_CONFIG_HOME and XDG_DATA_HOME place containers/image's own files for a user other than
    # root: policy.json and registries.d, and the blob-info cache that mounts rely on.
    "PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "LANG",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)


class Section(Enum):
    """A part of the configuration that is checked as one; the order is the order problems are
    reported in."""

    ALLOWLIST = "allowlist"  # MIRROR_ALLOWLIST and the file itself
    MIRROR = "mirror"  # MIRROR_REGISTRY (or the setting, or GHCR), the naming template
    LIMITS = "limits"  # MIRROR_TIMEOUT, MIRROR_COPY_TIMEOUT, MIRROR_RETRY_*
    ENGINE = "engine"  # MIRROR_COPY_PROCESSES, MIRROR_BLOB_*
    GITHUB = "github"  # MIRROR_GITHUB_*


# What `Config` is made of: every command that builds one needs these.
CONFIG_SECTIONS = (Section.ALLOWLIST, Section.MIRROR, Section.LIMITS, Section.ENGINE)


@dataclass(frozen=True)
class Problem:
    section: Section
    message: str
    unset: bool = False  # nothing was configured (as against something configured wrongly)

    def __str__(self) -> str:
        return self.message


class MirrorSource(Enum):
    """Where the mirror came from (the doctor says so, and whose credentials push to it)."""

    VARIABLE = "MIRROR_REGISTRY"
    SETTING = "settings.mirror_registry"
    GHCR_DEFAULT = "the GHCR default inside GitHub Actions, pushed with GITHUB_TOKEN"


@dataclass(frozen=True)
class Files:
    """The files the environment names (read by whoever needs them)."""

    allowlist: Path = Path("allowlist.yaml")  # MIRROR_ALLOWLIST
    subscriptions: Path = Path("subscriptions.yaml")  # MIRROR_SUBSCRIPTIONS
    registries_conf: Path | None = None  # CONTAINERS_REGISTRIES_CONF
    auth_file: Path | None = None  # REGISTRY_AUTH_FILE


@dataclass(frozen=True)
class Limits:
    """Timeouts and retries of the edges, from MIRROR_* variables."""

    registry_timeout: float = 30.0
    copy_timeout: float = 1800.0
    retry_attempts: int = 3
    retry_base_delay: float = 2.0

    @property
    def backoff(self) -> Backoff:
        """How the registry client and the copy engine wait between tries."""
        return Backoff(attempts=self.retry_attempts, base_delay=self.retry_base_delay)


@dataclass(frozen=True)
class GitHubSettings:
    """How this run reaches GitHub and links to itself: GITHUB_* (set by Actions) and
    MIRROR_GITHUB_*. A missing token is not a problem here: it is one only for a command that
    talks to GitHub (bot/commands/adapters.py says so)."""

    token: str | None = None
    repository: str | None = None  # owner/name
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str | None = None
    first_attempt: bool = True  # GITHUB_RUN_ATTEMPT is 1: the event's payload is fresh
    step_summary: Path | None = None  # GITHUB_STEP_SUMMARY
    write_interval: float = 1.0  # seconds between writes (GitHub's content-creation limit)
    secondary_wait: float = 60.0  # seconds to wait out a secondary rate limit
    backoff: float = 1.0
    timeout: int = 30

    @property
    def repository_url(self) -> str:
        return f"{self.server_url}/{self.repository}" if self.repository else ""

    @property
    def run_url(self) -> str | None:
        if not self.repository or not self.run_id:
            return None
        return f"{self.repository_url}/actions/runs/{self.run_id}"


@dataclass(frozen=True)
class EventSource:
    """The event `handle-event` handles: GITHUB_EVENT_PATH and GITHUB_EVENT_NAME."""

    path: Path | None = None
    name: str = ""


@dataclass(frozen=True)
class MirrorSetting:
    registries: tuple[str, ...]  # the primary first
    username: str | None  # the primary's credentials; the others' come from REGISTRY_AUTH_FILE
    password: str | None
    source: MirrorSource = MirrorSource.VARIABLE


@dataclass(frozen=True)
class Config:
    """What a command that mirrors, plans or rewrites runs with; every section checked."""

    files: Files
    allowlist: Allowlist
    namer: Namer
    mirror_setting: MirrorSetting  # where the mirrors came from, and the primary's login
    labels: Labels
    limits: Limits = Limits()
    engine: EngineSettings = field(default_factory=EngineSettings)  # bot/copy/settings.py
    bot_login: str = DEFAULT_BOT_LOGIN
    language: str = "en"  # of comments, job summaries and the status page
    github: GitHubSettings = GitHubSettings()  # checked only when a command asks for it
    # None (a Config built by hand): skopeo inherits this process's environment.
    skopeo_environment: Mapping[str, str] | None = None
    # The run's secret set (Loaded's): every form of every secret, and the tokens obtained.
    secret_set: Secrets = field(default_factory=Secrets, compare=False, repr=False)

    @property
    def mirror(self) -> str:
        return self.namer.mirror

    @property
    def own_prefixes(self) -> tuple[str, ...]:
        """How users paste this mirror's own address in front of an image."""
        return self.namer.pasted_prefixes

    @property
    def other_mirrors(self) -> Mapping[str, str]:
        """Other mirrors' prefixes users paste (prefix -> the registry it stands for)."""
        return other_mirrors(self.allowlist)


def other_mirrors(allowlist: Allowlist) -> Mapping[str, str]:
    """The setting `mirror_prefixes`, or the well-known mirrors when it is not set."""
    configured = allowlist.settings.mirror_prefixes
    return DEFAULT_MIRROR_PREFIXES if configured is None else configured


@dataclass(frozen=True)
class Loaded:
    """Everything the environment says, each section read once, and every problem found.

    A section with a problem keeps its defaults for what was wrong (so the rest can still be
    reported), but a command must not run on it: `require` and `config` refuse it."""

    files: Files
    limits: Limits
    engine: EngineSettings
    github: GitHubSettings
    event: EventSource
    labels: Labels
    bot_login: str
    skopeo_environment: Mapping[str, str]
    problems: tuple[Problem, ...] = ()
    # The run's one secret set, shared by every Config made from this (see the module's rule).
    secret_set: Secrets = field(default_factory=Secrets, compare=False, repr=False)
    allowlist: Allowlist | None = None  # None: it did not load (a problem says why)
    mirror: MirrorSetting | None = None  # None: no mirror, or the allowlist did not load
    namer: Namer | None = None

    def problems_in(self, *sections: Section) -> list[Problem]:
        return [problem for problem in self.problems if problem.section in sections]

    def require(self, *sections: Section) -> None:
        """Raise a ConfigError for the first problem among `sections`, saying how many more
        there are (the doctor lists each)."""
        found = self.problems_in(*sections)
        if found:
            more = f" ({len(found) - 1} more: run mirror-bot doctor)" if len(found) > 1 else ""
            raise ConfigError(f"{found[0]}{more}")

    def checked_allowlist(self) -> Allowlist:
        """The allowlist, or a ConfigError for its first problem."""
        self.require(Section.ALLOWLIST)
        if self.allowlist is None:  # a command that reads it on its own asked for it
            raise ConfigError("the allowlist was not read for this command")
        return self.allowlist

    def deciding(self) -> tuple[Allowlist, Namer | None]:
        """What deciding on a request needs, for `plan`: the allowlist, and the naming unless no
        mirror is configured at all (a mirror configured wrongly is still a ConfigError, and so
        is any other section's problem: the environment is checked the same for every command)."""
        self.require(*(section for section in CONFIG_SECTIONS if section is not Section.MIRROR))
        allowlist = self.checked_allowlist()
        if self.namer is None and all(problem.unset for problem in self.problems_in(Section.MIRROR)):
            return allowlist, None
        self.require(Section.MIRROR)
        return allowlist, self.namer

    def config(self, *also: Section) -> Config:
        """The checked configuration (its sections and `also`, e.g. Section.GITHUB for a
        command that talks to GitHub); a ConfigError for the first problem among them."""
        self.require(*CONFIG_SECTIONS, *also)
        if self.allowlist is None or self.mirror is None or self.namer is None:
            raise AssertionError("a section without a problem is loaded")  # unreachable
        return Config(
            files=self.files,
            allowlist=self.allowlist,
            namer=self.namer,
            mirror_setting=self.mirror,
            labels=self.labels,
            limits=self.limits,
            engine=self.engine,
            bot_login=self.bot_login,
            language=self.allowlist.settings.language,
            github=self.github,
            skopeo_environment=self.skopeo_environment,
            secret_set=self.secret_set,
        )


class _Problems:
    """Collects problems while the sections are read; a bad value keeps its default."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.found: list[Problem] = []

    def text(self, name: str) -> str:
        return (self.env.get(name) or "").strip()

    def value(self, section: Section, name: str, parse: Callable[[str], T], default: T) -> T:
        """Variable `name` as `parse` reads it; `default` when it is unset, empty or bad."""
        text = self.text(name)
        if not text:
            return default
        return self.checked(section, lambda: units.read(name, text, parse, default), default)

    def checked(self, section: Section, read: Callable[[], T], default: T) -> T:
        try:
            return read()
        except ConfigError as error:
            self.found.append(Problem(section, str(error), isinstance(error, NoMirror)))
            return default


def files_from(env: Mapping[str, str]) -> Files:
    conf, auth_file = env.get("CONTAINERS_REGISTRIES_CONF"), env.get("REGISTRY_AUTH_FILE")
    return Files(
        allowlist=Path(env.get("MIRROR_ALLOWLIST") or "allowlist.yaml"),
        subscriptions=Path(env.get("MIRROR_SUBSCRIPTIONS") or "subscriptions.yaml"),
        registries_conf=Path(conf) if conf else None,
        auth_file=Path(auth_file) if auth_file else None,
    )


class NoMirror(ConfigError):
    """No mirror is configured at all (as against one configured wrongly): `plan` still decides."""


def mirror_setting(env: Mapping[str, str], allowlist: Allowlist) -> MirrorSetting:
    """The mirrors and the primary's push credentials: the variable, the setting, or GHCR in
    Actions."""
    text = (env.get("MIRROR_REGISTRY") or "").strip()
    username = env.get("MIRROR_USERNAME") or None
    password = env.get("MIRROR_PASSWORD") or None
    if text:
        try:
            return MirrorSetting(parse_mirror_registries(text), username, password)
        except ConfigError as error:
            raise ConfigError(f"MIRROR_REGISTRY: {error}") from error
    if allowlist.settings.mirrors:
        return MirrorSetting(allowlist.settings.mirrors, username, password, MirrorSource.SETTING)
    if env.get("GITHUB_ACTIONS") != "true":
        raise NoMirror("no mirror registry is configured: set MIRROR_REGISTRY (e.g. "
                       "MIRROR_REGISTRY=m.example.io) or settings.mirror_registry")
    owner = (env.get("GITHUB_REPOSITORY_OWNER") or env.get("GITHUB_REPOSITORY", "").split("/")[0])
    if not owner:
        raise ConfigError("MIRROR_REGISTRY is empty and GITHUB_REPOSITORY_OWNER is not set, so "
                          "the GHCR default cannot be used; set MIRROR_REGISTRY")
    return MirrorSetting((f"{GHCR}/{owner.lower()}",), username or env.get("GITHUB_ACTOR") or None,
                         password or env.get("GITHUB_TOKEN") or None, MirrorSource.GHCR_DEFAULT)


def naming(mirror: MirrorSetting, allowlist: Allowlist) -> Namer:
    """The mirrors' naming, checked: the template names every source apart."""
    namer = Namer(mirror.registries[0], allowlist.settings.target_template or DEFAULT_TEMPLATE,
                  also=mirror.registries[1:])
    namer.validate()
    return namer


def limits_from(found: _Problems) -> Limits:
    def seconds(name: str, default: float, minimum: float = 0) -> float:
        return found.value(Section.LIMITS, name,
                           lambda text: units.duration(text, minimum=minimum), default)

    return Limits(
        registry_timeout=seconds("MIRROR_TIMEOUT", Limits.registry_timeout, minimum=1),
        copy_timeout=seconds("MIRROR_COPY_TIMEOUT", Limits.copy_timeout, minimum=1),
        retry_attempts=found.value(Section.LIMITS, "MIRROR_RETRY_ATTEMPTS", units.whole_number,
                                   Limits.retry_attempts),
        retry_base_delay=seconds("MIRROR_RETRY_BASE_DELAY", Limits.retry_base_delay),
    )


def default_cache_path(env: Mapping[str, str]) -> Path:
    """`${XDG_CACHE_HOME:-$HOME/.cache}/mirror-bot/blob-locations.json` (workflows keep it
    between runs with actions/cache); without HOME, the user's home directory."""
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return Path(base) / "mirror-bot" / "blob-locations.json"


def engine_from(found: _Problems) -> EngineSettings:
    """The copy engine's settings (the table in bot/copy/settings.py)."""
    cache_setting = found.text("MIRROR_BLOB_CACHE")
    cache = (None if cache_setting.lower() == "off"
             else Path(cache_setting) if cache_setting else default_cache_path(found.env))
    return EngineSettings(
        copy_processes=found.value(Section.ENGINE, "MIRROR_COPY_PROCESSES", units.whole_number,
                                   DEFAULT_COPY_PROCESSES),
        blob_threshold=found.value(Section.ENGINE, "MIRROR_BLOB_THRESHOLD", units.size, None),
        blob_chunk=found.value(Section.ENGINE, "MIRROR_BLOB_CHUNK", units.size, None),
        blob_parallel=found.value(Section.ENGINE, "MIRROR_BLOB_PARALLEL", units.whole_number, None),
        cache=cache,
    )


def github_from(found: _Problems) -> GitHubSettings:
    env, defaults = found.env, GitHubSettings()

    def seconds(name: str, default: float) -> float:
        return found.value(Section.GITHUB, name, units.duration, default)

    summary = env.get("GITHUB_STEP_SUMMARY")
    return GitHubSettings(
        token=env.get("GITHUB_TOKEN") or None,
        repository=env.get("GITHUB_REPOSITORY") or None,
        api_url=env.get("GITHUB_API_URL") or defaults.api_url,
        server_url=env.get("GITHUB_SERVER_URL") or defaults.server_url,
        run_id=env.get("GITHUB_RUN_ID") or None,
        first_attempt=(env.get("GITHUB_RUN_ATTEMPT") or "1") == "1",
        step_summary=Path(summary) if summary else None,
        write_interval=seconds("MIRROR_GITHUB_WRITE_INTERVAL", defaults.write_interval),
        secondary_wait=seconds("MIRROR_GITHUB_SECONDARY_WAIT", defaults.secondary_wait),
        backoff=seconds("MIRROR_GITHUB_BACKOFF", defaults.backoff),
        timeout=found.value(Section.GITHUB, "MIRROR_GITHUB_TIMEOUT", units.whole_number,
                            defaults.timeout),
    )


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """skopeo's whole environment: CHILD_VARIABLES that are set, nothing else."""
    return {name: env[name] for name in CHILD_VARIABLES if name in env}


def _auth_file(path: Path | None) -> Credentials:
    """REGISTRY_AUTH_FILE's logins, for their secrets. A broken file is reported where the
    credentials are built (and by the doctor's own check), not here."""
    try:
        return Credentials.from_auth_file(path)
    except ConfigError:
        return Credentials()


def secret_set(env: Mapping[str, str], auth_file: Credentials, mirror: MirrorSetting | None,
               github: GitHubSettings) -> Secrets:
    """The run's secret set: the auth file's every value and login, the mirror's login (as the
    environment gives it, and as the mirror setting took it: GHCR's default logs in with
    GITHUB_TOKEN), and GITHUB_TOKEN."""
    secrets = auth_file.secret_set()
    secrets.add_login(env.get("MIRROR_USERNAME"), env.get("MIRROR_PASSWORD"))
    if mirror is not None:
        secrets.add_login(mirror.username, mirror.password)
    secrets.add(github.token or "")
    return secrets


def read_config(env: Mapping[str, str], *, with_allowlist: bool = True) -> Loaded:
    """Read every section of `env` (the process's environment, handed in by bot/cli.py) and,
    unless `with_allowlist` is False, the allowlist it names (and so the mirror and naming,
    which may come from its settings); never raises: what is wrong is in `problems`."""
    found = _Problems(env)
    files = files_from(env)
    allowlist = None
    if with_allowlist:
        allowlist = found.checked(Section.ALLOWLIST, lambda: load_allowlist(files.allowlist), None)
    mirror = namer = None
    if allowlist is not None:  # the mirror may come from the allowlist's settings
        mirror = found.checked(Section.MIRROR, lambda: mirror_setting(env, allowlist), None)
    if allowlist is not None and mirror is not None:
        namer = found.checked(Section.MIRROR, lambda: naming(mirror, allowlist), None)
    limits, engine, github = limits_from(found), engine_from(found), github_from(found)
    auth_file = _auth_file(files.auth_file)
    return Loaded(
        files=files,
        limits=limits,
        engine=engine,
        github=github,
        event=EventSource(Path(env["GITHUB_EVENT_PATH"]) if env.get("GITHUB_EVENT_PATH") else None,
                          env.get("GITHUB_EVENT_NAME", "")),
        labels=Labels(request=env.get("MIRROR_REQUEST_LABEL") or Labels.request),
        bot_login=env.get("MIRROR_BOT_LOGIN") or DEFAULT_BOT_LOGIN,
        skopeo_environment=child_environment(env),
        problems=tuple(found.found),
        secret_set=secret_set(env, auth_file, mirror, github),
        allowlist=allowlist,
        mirror=mirror,
        namer=namer,
    )


def load_config(env: Mapping[str, str]) -> Config:
    """The checked configuration of `env`, or a ConfigError for its first problem."""
    return read_config(env).config()
