"""The `settings:` section of allowlist.yaml: one table of every setting, its type and check.

Rule: `Settings` names each setting with its type and default; `SCHEMA` gives each the one
function that checks and converts what the file says (raising ValueError with what to write
instead). A problem names the setting and the line of its key — of the item, for a list. The
mirror and the naming template are checked together, by the same code every command runs, so
`check-allowlist` refuses exactly what would stop the bot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from bot import units
from bot.errors import MirrorBotError
from bot.image import referrers as referrer_rules
from bot.image.platform import InvalidPlatform, Platform
from bot.image.reference import DEFAULT_REGISTRY, DOCKER_HUB_ALIASES, is_valid_domain, looks_like_domain
from bot.policy.naming import DEFAULT_TEMPLATE, Namer, parse_mirror_registries
from bot.policy.yamlfile import Problem, line_of, mapping_items, to_python
from bot.request.address import mirror_prefixes_from

LANGUAGES = ("en", "zh-CN")
# The most images one request may ask for, patterns' tags included: what one issue's record
# holds (bot/records/record.py's MAX_IMAGES; tests/unit/test_policy.py keeps the two equal).
MAX_REQUEST_IMAGES = 100
# Stands in for the mirror when the file names none (it comes from MIRROR_REGISTRY at run time).
PROBE_MIRROR = "mirror.example"


@dataclass(frozen=True)
class Settings:
    """Limits and site settings; every field has a safe default."""

    mirrors: tuple[str, ...] = ()  # settings.mirror_registry; the first is the primary
    target_template: str | None = None
    max_images_per_issue: int = 10
    max_open_requests_per_user: int = 5
    platforms: tuple[Platform, ...] | None = None  # None: every platform may be asked for
    max_image_size: int | None = None  # bytes
    max_request_size: int | None = None  # bytes, every image of one request together
    language: str = "en"
    # other mirrors' prefixes -> the registry each stands for ("" when a full name follows);
    # None: the built-in list (bot.request.address.DEFAULT_MIRROR_PREFIXES)
    mirror_prefixes: Mapping[str, str] | None = None
    max_tags_per_request: int = 20
    max_new_tags_per_follow: int = 50
    # Registries whose pull quota is per account (Docker Hub's, signed in): resync checks each
    # one's images in a single shard, so parallel shards do not each spend the same quota.
    quota_registries: tuple[str, ...] = (DEFAULT_REGISTRY,)
    # What travels with an image (bot/image/referrers.py): OCI 1.1 referrers and cosign's tags.
    referrers: referrer_rules.Keep = referrer_rules.Keep.ALL
    referrer_types: tuple[str, ...] | None = None  # None: every type `referrers` keeps
    referrers_max_depth: int = referrer_rules.DEFAULT_MAX_DEPTH
    referrers_max_count: int = referrer_rules.DEFAULT_MAX_COUNT
    referrers_max_bytes: int = referrer_rules.DEFAULT_MAX_BYTES

    @property
    def referrer_selection(self) -> referrer_rules.Selection:
        types = frozenset(self.referrer_types) if self.referrer_types is not None else None
        return referrer_rules.Selection(self.referrers, types)

    @property
    def referrer_bounds(self) -> referrer_rules.Bounds:
        return referrer_rules.Bounds(self.referrers_max_depth, self.referrers_max_count,
                                     self.referrers_max_bytes)


def whole_number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def size(value: Any) -> int:
    """The one size grammar (bot/units.py), as the environment's sizes read it."""
    try:
        return units.size(value)
    except ValueError as error:
        raise ValueError(f"{units.quoted(value)} {error}") from error


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def mirrors(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError("must be host[:port][/path], or several separated by commas")
    return parse_mirror_registries(value)


def mirror_prefix(entry: tuple[Any, Any]) -> dict[str, str]:
    """One `prefix: registry` entry, checked by the request reader's own rule."""
    try:
        return mirror_prefixes_from(dict([entry]))
    except ValueError as error:
        raise ValueError(str(error).removeprefix("mirror_prefixes: ")) from error


def platform(value: Any) -> Platform:
    if not isinstance(value, str):
        raise ValueError("each entry must be os/arch, e.g. linux/arm64")
    try:
        return Platform.parse(value)
    except InvalidPlatform as error:
        raise ValueError(str(error)) from error


def registry_host(value: Any) -> str:
    """A registry as references name it: host[:port], Docker Hub written `docker.io`."""
    if not isinstance(value, str) or not looks_like_domain(value) or not is_valid_domain(value):
        raise ValueError(f"{units.quoted(value)} is not a registry host; write host[:port], "
                         "e.g. docker.io")
    if value.lower() in DOCKER_HUB_ALIASES:
        raise ValueError(f"write Docker Hub as {DEFAULT_REGISTRY}, not '{value}'")
    if value != value.lower():
        raise ValueError(f"write '{value.lower()}' in lower case")
    return value


def at_most(limit: int) -> Callable[[Any], int]:
    """A whole number from 1 to `limit`."""
    def convert(value: Any) -> int:
        number = whole_number(value)
        if number > limit:
            raise ValueError(f"must be at most {limit}")
        return number
    return convert


def keep_referrers(value: Any) -> referrer_rules.Keep:
    choices = ", ".join(keep.value for keep in referrer_rules.Keep)
    if value is False or value is None:  # YAML reads `no`, `off`, `false` and `~` so
        raise ValueError(f"write none to copy no referrers (one of {choices})")
    try:
        return referrer_rules.Keep(value)
    except ValueError:
        raise ValueError(f"{units.quoted(value)} is not one of {choices}") from None


def media_type(value: Any) -> str:
    """An artifact type as registries write it, e.g. application/vnd.cncf.notary.signature."""
    if not isinstance(value, str) or not referrer_rules.MEDIA_TYPE_RE.match(value):
        raise ValueError(f"{units.quoted(value)} is not a media type (type/subtype, e.g. "
                         f"{referrer_rules.NOTATION_SIGNATURE})")
    return value


def language(value: Any) -> str:
    if value in LANGUAGES:
        return str(value)
    near = [known for known in LANGUAGES if str(value).replace("_", "-").lower() == known.lower()]
    hint = f"write '{near[0]}'" if near else f"one of {', '.join(LANGUAGES)}"
    raise ValueError(f"'{value}' is not a language this bot speaks ({hint})")


@dataclass(frozen=True)
class Field:
    """How one YAML setting becomes one `Settings` field."""

    attribute: str
    convert: Callable[[Any], Any]
    # a list or a mapping converted entry by entry; problems carry the entry's line
    each: Literal["list", "mapping"] | None = None
    example: str = ""
    unique: bool = False  # a list entry given twice is a problem


SCHEMA: dict[str, Field] = {
    "mirror_registry": Field("mirrors", mirrors),
    "target_template": Field("target_template", text),
    "max_images_per_issue": Field("max_images_per_issue", at_most(MAX_REQUEST_IMAGES)),
    "max_open_requests_per_user": Field("max_open_requests_per_user", whole_number),
    "platforms": Field("platforms", platform, each="list", example="[linux/amd64, linux/arm64]"),
    "max_image_size": Field("max_image_size", size),
    "max_request_size": Field("max_request_size", size),
    "language": Field("language", language),
    "mirror_prefixes": Field("mirror_prefixes", mirror_prefix, each="mapping",
                             example='{m.daocloud.io: "", docker.m.daocloud.io: docker.io}'),
    "max_tags_per_request": Field("max_tags_per_request", at_most(MAX_REQUEST_IMAGES)),
    "max_new_tags_per_follow": Field("max_new_tags_per_follow", whole_number),
    "quota_registries": Field("quota_registries", registry_host, each="list",
                              example="[docker.io]", unique=True),
    "referrers": Field("referrers", keep_referrers),
    "referrer_types": Field("referrer_types", media_type, each="list", unique=True,
                            example=f"[{referrer_rules.NOTATION_SIGNATURE}]"),
    "referrers_max_depth": Field("referrers_max_depth", at_most(referrer_rules.MAX_DEPTH)),
    "referrers_max_count": Field("referrers_max_count", at_most(referrer_rules.MAX_COUNT)),
    "referrers_max_bytes": Field("referrers_max_bytes", size),
}


def parse_settings(node: yaml.Node, source: str, problems: list[Problem]) -> Settings:
    """The settings a mapping node gives; each bad one is a problem and keeps its default."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(line_of(node), "'settings' must be a mapping", source))
        return Settings()
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, value_node, line in mapping_items(node, "settings: ", tuple(SCHEMA), source, problems):
        field = SCHEMA[key]
        try:
            if field.each:
                values[field.attribute] = _convert_each(field, value_node, key, source, problems)
            else:
                values[field.attribute] = field.convert(to_python(value_node))
            lines[key] = line
        except (ValueError, MirrorBotError) as error:
            problems.append(Problem(line, f"settings.{key}: {error}", source))
    settings = Settings(**values)
    _check_naming(settings, lines, source, problems)
    _check_referrer_types(settings, lines, source, problems)
    return settings


def _convert_each(field: Field, node: yaml.Node, key: str, source: str,
                  problems: list[Problem]) -> Any:
    if field.each == "list" and isinstance(node, yaml.SequenceNode):
        entries = [(item, to_python(item)) for item in node.value]
    elif field.each == "mapping" and isinstance(node, yaml.MappingNode):
        entries = [(k, (to_python(k), to_python(v))) for k, v in node.value]
    else:
        kind = "list" if field.each == "list" else "mapping"
        raise ValueError(f"must be a {kind} like {field.example}")
    converted = []
    for entry_node, value in entries:
        try:
            entry = field.convert(value)
            if field.unique and entry in converted:
                raise ValueError(f"'{entry}' is listed twice")
            converted.append(entry)
        except (ValueError, MirrorBotError) as error:
            problems.append(Problem(line_of(entry_node), f"settings.{key}: {error}", source))
    if field.each == "mapping":
        return {prefix: target for entry in converted for prefix, target in entry.items()}
    return tuple(converted)


def _check_referrer_types(settings: Settings, lines: dict[str, int], source: str,
                          problems: list[Problem]) -> None:
    """`referrer_types` narrows what `referrers` keeps: a type it could never keep is a mistake."""
    if settings.referrer_types is None:
        return
    line = lines.get("referrer_types")
    if settings.referrers is referrer_rules.Keep.NONE:
        problems.append(Problem(line, "settings.referrer_types: settings.referrers is none, so no "
                                "type is kept; remove one of the two", source))
        return
    if settings.referrers is referrer_rules.Keep.SIGNATURES:
        others = [t for t in settings.referrer_types if not referrer_rules.is_signature_type(t)]
        if others:
            problems.append(Problem(line, f"settings.referrer_types: {', '.join(others)} is not a "
                                    "signature type, which referrers: signatures never keeps; "
                                    "write referrers: all to keep it", source))


def _check_naming(settings: Settings, lines: dict[str, int], source: str,
                  problems: list[Problem]) -> None:
    """The template must name every source apart, under every mirror (the run-time check)."""
    if settings.target_template is None or settings.target_template == DEFAULT_TEMPLATE:
        return
    for mirror in settings.mirrors or (PROBE_MIRROR,):
        try:
            Namer(mirror, settings.target_template).validate()
        except MirrorBotError as error:
            problems.append(Problem(lines.get("target_template"), f"settings.target_template: {error}",
                                    source))
            return
