"""Title text -> the words meant as images, the platforms hinted at, and the words left over.

Rule: a title is read as people write it, and a word becomes an image only when it was written
as one. Full-width punctuation counts as its ASCII form; the lead-ins people and other bots put
first (`[sync]`, `SYNC IMAGE`, `同步镜像`, `docker pull`) are dropped and make the next word an
image; a pull command glued to an address (`docker.io/docker pull x`) is read as the command,
with a note; commands joined by `&&`, `;` or `|` are read one by one; `and`/`or`/`和` separate
images like commas. A word with `/`, `:`, `@` or a scheme is meant as an image. A bare word
(`nginx`) is an image only when the whole text is that word or a list of such words: one prose
word (`please`, `latest`, `1.27`, a command word such as `docker` or `run`, anything capitalised
or in CJK) makes the bare words around it prose. What is read as written only by guessing is
refused with the reading as its did-you-mean, never read: a name broken by a stray space or
comma (`docker. io/x`, `a/b: v1`, `mcr.m,daocloud.io/x`), a shell variable in a name
(`app:${TAG:-1.0}`), the image of a command that is not a pull (`docker run … app:1`; a compose
command names services, never images). A Helm command (`helm pull|install|upgrade|template|
show`) names a chart by its `oci://` address: read with `--version V` as the tag (`+` written
`_`, as Helm tags it), with a note; refused when the version is a range, missing (Helm would
take the highest) or given twice, or when the chart is a Helm repository's (`bitnami/redis`:
not in a registry). Architecture words (`arm64`, `(arm64)`), `os/arch` and
`--platform X` are platform hints. Nothing here raises on input.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from enum import Enum

from bot.image import reference
from bot.image.grammar import PATH_COMPONENT, TAG, TAG_RE
from bot.image.platform import ARCH_ALIASES, KNOWN_ARCHITECTURES, KNOWN_OS, InvalidPlatform, Platform
from bot.messages import Message, message

# Full-width and CJK punctuation that users type for its ASCII meaning (colon, comma,
# ideographic comma, semicolon, parentheses, lenticular brackets, ideographic space, vertical
# line; a full stop, exclamation or question mark ends a sentence). Letters are never folded:
# full-width letters stay look-alikes and the grammar refuses them.
PUNCTUATION = str.maketrans({
    "\uff1a": ":", "\uff0c": ",", "\u3001": ",", "\uff1b": ";", "\uff08": "(", "\uff09": ")",
    "\u3010": "[", "\u3011": "]", "\u3000": " ", "\uff5c": "|", "\u3002": " ", "\uff01": " ",
    "\uff1f": " ",
})
CJK = r"\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_BOUNDARY_RE = re.compile(rf"(?<=[{CJK}])(?=[^{CJK}\s])|(?<=[^{CJK}\s])(?=[{CJK}])")
CJK_RE = re.compile(f"[{CJK}]")
COMMAND_SEPARATOR_RE = re.compile(r"&&|\|\||[;|\n\r]")
TOKEN_RE = re.compile(r"[^\s,]+")
# ASCII quotes, typographic double and single quotes, CJK corner and angle brackets, brackets.
QUOTES = "`'\"\u201c\u201d\u2018\u2019\u300c\u300d\u300e\u300f\u300a\u300b<>()[]{}"
EXPANSION_QUOTES = QUOTES.replace("{}", "").replace("()", "")  # `${TAG}` keeps its braces
MAX_SHOWN = 80  # characters of a refused command shown back
TRAILING_PUNCTUATION = ".!"

LEAD_IN_RE = re.compile(
    r"""\A\s*(?:
        \[[^\]\n]{0,40}\](?![:/])                      # [sync] [PORTER] [Sync Image] [hub-mirror]
      | \[(?:porter|sync|hub-mirror|image-mirror)(?=[a-z0-9])   # "[PORTERk8s.gcr.io/..."
      | (?:(?:sudo\s+)?(?:docker|podman|nerdctl|crictl|ctr(?:\s+-n\s+\S+)?\s+(?:i|images?))
         (?:\s+image)?\s+pull                           # docker pull, ctr -n k8s.io images pull
        | please|pls|plz|kindly
        | (?:request(?:ing|ed)?|sync(?:hroni[sz]e)?|mirror|add|copy|need|want|from)
          (?:\s+(?:the|this|an?|new))?(?:\s+(?:docker|container|oci))?(?:\s+images?)?
        | (?:docker\s+|container\s+)?images?
        # CJK lead-ins, possessive: `请求` is also `请`+`求`, and backtracking would be 2^n
        | (?:请求|请|麻烦|帮忙|帮|求|申请|需要|同步|镜像|拉取|加速|添加|增加|搬运|一下|下载)++
        )(?=[\s:]|\Z)
    )(?:\s*:|\s+-(?=\s))?""",
    re.IGNORECASE | re.VERBOSE,
)
PULL_RE = re.compile(r"\bpull\Z", re.IGNORECASE)
MAX_LEAD_INS = 8
# A pull command glued to the address before it: `docker.io/docker pull ddsderek/xiaoya-cron`.
GLUED_PULL_RE = re.compile(
    r"\A\s*(?P<host>[a-z0-9][a-z0-9.-]*(?::[0-9]+)?)/"
    r"(?P<command>(?:sudo\s+)?(?:docker|podman|nerdctl)(?:\s+image)?\s+pull)(?=\s|\Z)",
    re.IGNORECASE | re.ASCII)
# Commands that are not a pull: their words are never read as images.
RUN_RE = re.compile(r"\A\s*(?:sudo\s+)?(?P<command>(?:docker|podman|nerdctl)\s+(?:container\s+)?"
                    r"(?:run|create))(?=\s|\Z)", re.IGNORECASE | re.ASCII)
COMPOSE_RE = re.compile(r"\A\s*(?:sudo\s+)?(?P<command>docker-compose|podman-compose|"
                        r"(?:docker|podman)\s+compose)(?=\s|\Z)", re.IGNORECASE | re.ASCII)
HELM_RE = re.compile(r"\A\s*(?:sudo\s+)?(?P<command>helm\s+(?:pull|fetch|install|upgrade|template"
                     r"|show\s+(?:all|chart|readme|values|crds)))(?=\s|\Z)", re.IGNORECASE | re.ASCII)
HELM_VERSION_OPTION = "--version"
# A version constraint rather than a version: Helm would choose among tags (`^20`, `>=1 <2`, `1.x`).
VERSION_RANGE_RE = re.compile(r"[\^~<>=*|,\s]|(?:^|\.)[xX](?:\.|$)", re.ASCII)
OCI_PREFIX = "oci://"
# `docker run`'s options (docker container run --help): those that take a value, as a word of
# their own or after `=`, and those that take none. Any other option leaves the image unknown.
RUN_VALUE_OPTIONS = frozenset({
    "--add-host", "--attach", "--cap-add", "--cap-drop", "--cgroupns", "--cidfile", "--cpu-shares",
    "--cpus", "--cpuset-cpus", "--device", "--device-cgroup-rule", "--dns", "--dns-search",
    "--domainname", "--entrypoint", "--env", "--env-file", "--expose", "--gpus", "--group-add",
    "--health-cmd", "--health-interval", "--hostname", "--ip", "--ipc", "--label", "--label-file",
    "--link", "--log-driver", "--log-opt", "--mac-address", "--memory", "--memory-swap",
    "--mount", "--name", "--net", "--network", "--network-alias", "--oom-score-adj", "--pid",
    "--platform", "--publish", "--pull", "--restart", "--runtime", "--security-opt",
    "--shm-size", "--stop-signal", "--stop-timeout", "--storage-opt", "--sysctl", "--tmpfs",
    "--ulimit", "--user", "--userns", "--uts", "--volume", "--volumes-from", "--workdir",
})
RUN_FLAG_OPTIONS = frozenset({
    "--detach", "--disable-content-trust", "--init", "--interactive", "--no-healthcheck",
    "--oom-kill-disable", "--privileged", "--publish-all", "--quiet", "--read-only", "--rm",
    "--sig-proxy", "--tty",
})
RUN_VALUE_LETTERS = frozenset("acehlmpuvw")  # -e KEY=V, -p 80:80, -v a:b, …
RUN_FLAG_LETTERS = frozenset("ditPq")  # -d, -it, -P, …
# A shell expansion in a word: `${TAG:-1.0}` (its default after `:-` or `-`), `$TAG`, `$(…)`.
EXPANSION_RE = re.compile(r"\$(?:\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}|\w+|\()")

CONJUNCTIONS = frozenset({"and", "or", "plus", "&", "+", "和", "及", "以及", "与", "或"})
# Words that are prose wherever they stand: a title holding one of them is not a list.
PROSE_WORDS = frozenset({
    "a", "an", "the", "to", "for", "of", "in", "on", "at", "by", "with", "from", "into", "is",
    "it", "this", "that", "these", "my", "me", "i", "we", "you", "pls", "please", "plz",
    "thanks", "thank", "thx", "hi", "hello", "help", "need", "want", "would", "like", "can",
    "could", "sync", "mirror", "mirrors", "mirroring", "image", "images", "request",
    "requests", "add", "new", "pull", "push", "copy", "tag", "tags", "version", "versions",
    "latest", "stable", "platform", "platforms", "arch", "architecture", "all", "not", "no",
    "failed", "failure", "error", "issue", "test", "todo", "via", "using", "use", "also",
})
# Command words: prose wherever they stand, never an image's name unless a pull names them.
COMMAND_WORDS = frozenset({
    "docker", "podman", "nerdctl", "crictl", "ctr", "sudo", "docker-compose", "docker-pull",
    "compose", "run", "up",
})
# A path component that starts with a letter; a tag that starts with a digit, after a `v`.
BARE_NAME_RE = re.compile(rf"(?=[a-z]){PATH_COMPONENT}\Z", re.ASCII)
VERSION_RE = re.compile(rf"v?(?=[0-9]){TAG}\Z", re.ASCII)
HOST_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}(?::[0-9]+)?\Z"
    r"|localhost(?::[0-9]+)?\Z|[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]+)?\Z",
    re.ASCII | re.IGNORECASE,
)
IPV6_HOST_RE = re.compile(r"\[[0-9a-f:.]+\][:/]", re.ASCII | re.IGNORECASE)
SCHEME_RE = re.compile(r"\A[a-z][a-z0-9+.-]*://", re.IGNORECASE)
DOCKER_HUB_SITES = ("hub.docker.com", "registry.hub.docker.com")


class Kind(Enum):
    IMAGE = "image"    # has '/', ':', '@' or a scheme: meant as an image (or a page, a host)
    OPTION = "option"  # starts with '-': reported, never an image
    WORD = "word"      # a bare lowercase name or host: an image only in a list of images
    PROSE = "prose"    # anything else


@dataclass(frozen=True)
class Found:
    """A word meant as an image: read as written (with notes on what was read differently), or
    refused with its `problem` and, where one reading is plain, the text it `meant`."""

    text: str
    notes: tuple[Message, ...] = ()
    problem: Message | None = None
    meant: str | None = None


@dataclass
class Reading:
    """What a text names: image words, platforms, platform problems, prose hints."""

    images: list[Found] = field(default_factory=list)
    platforms: list[Platform] = field(default_factory=list)
    problems: list[Message] = field(default_factory=list)
    # A bare name the text may have meant (`nginx` in "please nginx 1.27" -> `nginx:1.27`).
    hints: list[str] = field(default_factory=list)
    leftover: int = 0  # words that were neither (read_platforms only)


def normalise(text: str) -> str:
    """Full-width punctuation as ASCII; CJK runs set apart from the words around them."""
    return CJK_BOUNDARY_RE.sub(" ", text.translate(PUNCTUATION))


def is_host(text: str) -> bool:
    """`docker.io`, `m.example.io:5000`, `localhost`, an IPv4 address: a host, not a name."""
    return bool(HOST_RE.match(text))


def kind_of(word: str) -> Kind:
    """How a word takes part in a title (see the module's rule)."""
    if word.startswith("-"):
        return Kind.OPTION
    if CJK_RE.search(word) or word.lower() in CONJUNCTIONS:
        return Kind.PROSE
    if SCHEME_RE.match(word) or any(char in word for char in "/@") or _has_tag_colon(word):
        return Kind.IMAGE
    if word.lower() in PROSE_WORDS or word.lower() in COMMAND_WORDS or VERSION_RE.match(word):
        return Kind.PROSE
    if BARE_NAME_RE.match(word) or is_host(word):
        return Kind.WORD
    return Kind.PROSE


def _has_tag_colon(word: str) -> bool:
    """`nginx:1.27` has one; a label such as `image:` or `Image:` does not."""
    return ":" in word and not (word.endswith(":") and word.count(":") == 1)


def arch_platform(word: str) -> Platform | None:
    """A bare architecture (`arm64`, `x86_64`) or `os/arch` with a known OS, as a platform."""
    lowered = word.lower()
    if "/" in lowered and lowered.split("/", 1)[0] not in KNOWN_OS:
        return None
    if "/" not in lowered and lowered not in KNOWN_ARCHITECTURES and lowered not in ARCH_ALIASES:
        return None
    try:
        return Platform.parse(lowered)
    except InvalidPlatform:
        return None


def _clean(token: str) -> str:
    if IPV6_HOST_RE.match(token):  # `[::1]:5000/app`: the bracket is part of the host
        return token.rstrip(QUOTES + TRAILING_PUNCTUATION) if token[-1] in ")}>" else token
    token = token.strip(QUOTES)
    while token and token[-1] in TRAILING_PUNCTUATION:
        token = token[:-1].strip(QUOTES)
    return token


def _strip_lead_ins(segment: str) -> tuple[str, bool]:
    """Drop the lead-ins at the start of one command; True when one was a pull command, whose
    operand is an image whatever the word."""
    pulled = False
    for _ in range(MAX_LEAD_INS):
        match = LEAD_IN_RE.match(segment)
        if not match or not match.group(0).strip():
            break
        pulled = pulled or bool(PULL_RE.search(match.group(0)))
        segment = segment[match.end() :]
    return segment, pulled


def _words(segment: str, known_hosts: Collection[str] = ()) -> list[Found]:
    """Split on spaces and commas. Two words that are one name broken by a stray space or comma
    (`docker. io/x`, `docker.io /x`, `a/b: v1`, `mcr.m,daocloud.io/x`; `known_hosts` are the
    hosts such a break may split) are refused as one, with the joined name as what was meant;
    a name with a shell expansion is refused, with its default as what was meant."""
    tokens = list(TOKEN_RE.finditer(segment))
    found: list[Found] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        joined = _joined(segment, token, following, known_hosts) if following else None
        if joined is not None:
            found.append(joined)
            position += 2
            continue
        position += 1
        if (expanded := _expanded(token.group())) is not None:
            found.append(expanded)
        elif word := _clean(token.group()):
            found.append(Found(word))
    return found


def _joined(segment: str, token: re.Match[str], following: re.Match[str],
            known_hosts: Collection[str]) -> Found | None:
    gap = segment[token.end() : following.start()]
    left, right = token.group().lstrip(QUOTES), _clean(following.group())
    if not left or not right or SCHEME_RE.match(right) or ("," in gap and gap != ","):
        return None
    meant = None
    if gap == ",":  # `mcr.m,daocloud.io/x`: a comma typed for a dot inside a host
        if not set("/:@") & set(left) and _first_host(f"{left}.{right}") in known_hosts:
            meant = f"{left}.{right}"
    elif left.endswith(".") and "/" in right and _first_host(left + right) in known_hosts:
        meant = left + right  # `docker. io/x`
    elif is_host(_clean(left)) and right.startswith("/"):
        meant = _clean(left) + right  # `docker.io /x`
    elif left.endswith(":") and "/" in left and not set("/:@") & set(right) and TAG_RE.match(right):
        meant = left + right  # `registry.k8s.io/conformance-amd64: v1.14`
    if meant is None:
        return None
    written = f"{left}{gap}{right}"
    return Found(written, problem=message("%(written)s is one name broken by a space or a comma",
                                          written=written), meant=meant)


def _first_host(text: str) -> str:
    return text.split("/", 1)[0].lower()


def _expanded(token: str) -> Found | None:
    """A name written with a shell expansion (`app:${TAG:-1.0}`): refused, meaning the name with
    each expansion's default (none when one has no default)."""
    word = token.strip(EXPANSION_QUOTES)
    expansions = list(EXPANSION_RE.finditer(word))
    if not expansions or not set("/:@") & set(EXPANSION_RE.sub("", word)):
        return None
    defaults = [expansion.group("default") for expansion in expansions]
    meant = None
    if all(default is not None for default in defaults):
        meant = EXPANSION_RE.sub(lambda expansion: expansion.group("default"), word)
    return Found(word, problem=message(
        "%(word)s holds a shell variable, whose value the bot cannot know: write the tag itself",
        word=word), meant=meant)


def _other_command(segment: str) -> Found | None:
    """`docker run … image` and compose commands: refused whole; a run's image is what was meant."""
    written = " ".join(segment.split())
    shown = written if len(written) <= MAX_SHOWN else written[: MAX_SHOWN - 1] + "…"
    if match := COMPOSE_RE.match(segment):
        return Found(shown, problem=message(
            "%(command)s works on a compose file's services, never on images: write the image's "
            "name, e.g. docker.io/library/nginx:1.27", command=" ".join(match["command"].lower().split())))
    if match := RUN_RE.match(segment):
        return Found(shown, problem=message(
            "read %(command)s as a command that starts a container; a request names the image "
            "alone", command=" ".join(match["command"].lower().split())),
            meant=_run_operand(segment[match.end() :].split()))
    return None


def _helm_command(segment: str) -> Found | None:
    """`helm pull oci://host/charts/redis --version 20.1.0`: the chart, with its version as the
    tag; None when `segment` is no Helm command."""
    match = HELM_RE.match(segment)
    if match is None:
        return None
    command = " ".join(match["command"].lower().split())
    tokens = [_clean(token) for token in segment[match.end() :].split()]
    version = next((token.split("=", 1)[1] for token in tokens
                    if token.startswith(f"{HELM_VERSION_OPTION}=")), None)
    if HELM_VERSION_OPTION in tokens and tokens.index(HELM_VERSION_OPTION) + 1 < len(tokens):
        version = tokens[tokens.index(HELM_VERSION_OPTION) + 1]
    charts = [token for token in tokens if token.lower().startswith(OCI_PREFIX)]
    written = " ".join(segment.split())
    shown = written if len(written) <= MAX_SHOWN else written[: MAX_SHOWN - 1] + "…"
    if len(charts) != 1:
        return Found(shown, problem=message(
            "%(command)s names no chart in a registry (a Helm repository's chart is not one); "
            "write its OCI address, e.g. oci://registry-1.docker.io/bitnamicharts/redis:20.1.0",
            command=command))
    chart = charts[0]
    tagged = ":" in chart[len(OCI_PREFIX) :].rsplit("/", 1)[-1] or "@" in chart
    if version is None:
        if tagged:
            return Found(chart)
        return Found(shown, problem=message(
            "%(command)s without --version takes the chart's highest version, which changes; "
            "write the version to mirror as the tag", command=command))
    tag = version.replace("+", "_")  # Helm's own rule: an OCI tag cannot hold `+`
    if tagged or VERSION_RANGE_RE.search(version) or not TAG_RE.match(tag):
        return Found(shown, problem=message(
            "%(version)s is not one version of %(chart)s (a range, or a second version); write the "
            "version to mirror as the tag", version=version, chart=chart))
    return Found(f"{chart}:{tag}", (message("read %(command)s --version %(version)s as the chart's "
                                            "tag", command=command, version=version),))


def _run_operand(tokens: list[str]) -> str | None:
    """The image a `docker run` names: its first word that is neither an option nor an option's
    value; None when an option it does not know comes first (its value could be the image)."""
    expecting = False
    for token in map(_clean, tokens):
        if expecting or token in {"", "\\"}:
            expecting = False
            continue
        name = token.split("=", 1)[0]
        letters = token[1:]
        if token.startswith("--"):
            if name in RUN_VALUE_OPTIONS and "=" not in token:
                expecting = True
            elif name not in RUN_VALUE_OPTIONS and name not in RUN_FLAG_OPTIONS:
                return None
        elif token.startswith("-"):
            if not letters or not set(letters[:-1]) <= RUN_FLAG_LETTERS:
                return None
            if letters[-1] in RUN_VALUE_LETTERS:
                expecting = True
            elif letters[-1] not in RUN_FLAG_LETTERS:
                return None
        else:
            return token
    return None


def _glued(item: Found, host: str, command: str) -> Found:
    """An image of `host/docker pull image`: read with a note when `host` is Docker Hub's or the
    image names its own registry; otherwise the image on `host` is what was meant."""
    note = message("read %(command)s as a command word, not as part of an image's name",
                   command=command)
    own = "/" in item.text and reference.looks_like_domain(item.text.split("/", 1)[0])
    hub = reference.split_domain(f"{host}/x")[0] == reference.DEFAULT_REGISTRY \
        or host.lower() in DOCKER_HUB_SITES
    if item.problem is not None or own or hub:
        return replace(item, notes=(*item.notes, note))
    return Found(item.text, (note,), message(
        "%(host)s is glued to the command %(command)s, so which registry is meant is unsure",
        host=host, command=command),
        f"{host}/{item.text}")


def _take_platforms(words: list[Found], reading: Reading) -> list[Found]:
    """Remove `--platform X`, `--platform=X`, `os/arch` and architecture words."""
    rest: list[Found] = []
    expecting = False
    for item in words:
        word = item.text
        if item.problem is not None:
            rest.append(item)
            continue
        lowered = word.lower()
        if expecting or lowered.startswith("--platform="):
            values = word if expecting else word.split("=", 1)[1]
            expecting = False
            for value in filter(None, values.split(",")):
                try:
                    reading.platforms.append(Platform.parse(value))
                except InvalidPlatform as error:
                    reading.problems.append(error.said)
        elif lowered == "--platform":
            expecting = True
        elif (platform := arch_platform(word)) is not None:
            reading.platforms.append(platform)
        else:
            rest.append(item)
    if expecting:
        reading.problems.append(message("--platform needs a value (write --platform=linux/arm64)"))
    return rest


def _read_segment(segment: str, reading: Reading, known_hosts: Collection[str]) -> None:
    if (other := _other_command(segment) or _helm_command(segment)) is not None:
        reading.images.append(other)
        return
    glued = GLUED_PULL_RE.match(segment)
    if glued:
        segment = segment[glued.start("command") :]
    segment, pulled = _strip_lead_ins(segment)
    found = _take_platforms(_words(segment, known_hosts), reading)
    if glued:
        command = " ".join(glued["command"].lower().split()[-2:])
        found = [_glued(item, glued["host"], command) for item in found]
    words = [item.text for item in found]
    kinds = [Kind.IMAGE if item.problem else kind_of(item.text) for item in found]
    if len(words) == 1 and (kinds[0] is not Kind.PROSE or _lone_word(words[0], pulled)):
        reading.images.append(found[0])
        return
    is_list = Kind.PROSE not in kinds
    for position, (item, kind) in enumerate(zip(found, kinds, strict=True)):
        following = words[position + 1] if position + 1 < len(words) else ""
        forced = pulled and position == 0 and kind is Kind.WORD and not VERSION_RE.match(following)
        if forced or kind in {Kind.IMAGE, Kind.OPTION} or (is_list and kind is Kind.WORD):
            reading.images.append(item)
        elif (hint := _hint(item.text, following)) is not None:
            reading.hints.append(hint)


def _hint(word: str, following: str) -> str | None:
    """`nginx` (or `Nginx`), with the version that follows it: what a prose title may mean."""
    name = word.lower()
    if not BARE_NAME_RE.match(name) or name in PROSE_WORDS or name in COMMAND_WORDS \
            or VERSION_RE.match(name):
        return None
    tagged = VERSION_RE.match(following) or following == "latest"
    return f"{name}:{following}" if tagged else name


def _lone_word(word: str, pulled: bool) -> bool:
    """A command or title that is one word means it as an image unless it is plainly prose
    (a pull command's operand is an image even when it is a prose word: `docker pull a`)."""
    lowered = word.lower()
    prose = (lowered in PROSE_WORDS or lowered in COMMAND_WORDS) and not pulled
    return not (prose or lowered in CONJUNCTIONS or CJK_RE.search(word) or VERSION_RE.match(word))


def read(text: str, known_hosts: Collection[str] = ()) -> Reading:
    """The images, platforms and hints in a title or an issue form's Image section;
    `known_hosts` (lower case) are the hosts a stray space or comma may be found to split."""
    reading = Reading()
    for segment in COMMAND_SEPARATOR_RE.split(normalise(text)):
        _read_segment(_split_conjunctions(segment), reading, known_hosts)
    return reading


def _split_conjunctions(segment: str) -> str:
    return " ".join("," if word.lower() in CONJUNCTIONS else word for word in segment.split())


def read_platforms(text: str) -> Reading:
    """Platforms only: an issue form's Platform section (`All platforms` names none)."""
    reading = Reading()
    reading.leftover = len(_take_platforms(_words(normalise(text)), reading))
    return reading
