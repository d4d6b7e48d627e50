"""Title text -> the words meant as images, the platforms hinted at, and the words left over.

Rule: a title is read as people write it. Full-width punctuation counts as its ASCII form;
the lead-ins people and other bots put first (`[sync]`, `SYNC IMAGE`, `同步镜像`, `docker pull`)
are dropped and make the next word an image; commands joined by `&&`, `;` or `|` are read one
by one; `and`/`or`/`和` separate images like commas. A word with `/`, `:`, `@` or a scheme is
meant as an image. A bare word (`nginx`) is an image only when the whole text is that word or
a list of such words: one prose word (`please`, `latest`, `1.27`, anything capitalised or in
CJK) makes the bare words around it prose. Architecture words (`arm64`, `(arm64)`), `os/arch`
and `--platform X` are platform hints. Nothing here raises on input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from bot.image.grammar import PATH_COMPONENT, TAG
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
WORD_SEPARATOR_RE = re.compile(r"[\s,]+")
# ASCII quotes, typographic double and single quotes, CJK corner and angle brackets, brackets.
QUOTES = "`'\"\u201c\u201d\u2018\u2019\u300c\u300d\u300e\u300f\u300a\u300b<>()[]{}"
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


class Kind(Enum):
    IMAGE = "image"    # has '/', ':', '@' or a scheme: meant as an image (or a page, a host)
    OPTION = "option"  # starts with '-': reported, never an image
    WORD = "word"      # a bare lowercase name or host: an image only in a list of images
    PROSE = "prose"    # anything else


@dataclass
class Reading:
    """What a text names: image words, platforms, platform problems, prose hints."""

    images: list[str] = field(default_factory=list)
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
    if word.lower() in PROSE_WORDS or VERSION_RE.match(word):
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


def _words(segment: str) -> list[str]:
    """Split on spaces and commas; join `docker.io /library/x` that a stray space broke."""
    words: list[str] = []
    for raw in WORD_SEPARATOR_RE.split(segment):
        word = _clean(raw)
        if not word:
            continue
        if words and word.startswith("/") and is_host(words[-1]):
            words[-1] += word
        else:
            words.append(word)
    return words


def _take_platforms(words: list[str], reading: Reading) -> list[str]:
    """Remove `--platform X`, `--platform=X`, `os/arch` and architecture words."""
    rest: list[str] = []
    expecting = False
    for word in words:
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
            rest.append(word)
    if expecting:
        reading.problems.append(message("--platform needs a value (write --platform=linux/arm64)"))
    return rest


def _read_segment(segment: str, reading: Reading) -> None:
    segment, pulled = _strip_lead_ins(segment)
    words = _take_platforms(_words(segment), reading)
    kinds = [kind_of(word) for word in words]
    if len(words) == 1 and (kinds[0] is not Kind.PROSE or _lone_word(words[0], pulled)):
        reading.images.append(words[0])
        return
    is_list = Kind.PROSE not in kinds
    for position, (word, kind) in enumerate(zip(words, kinds, strict=True)):
        following = words[position + 1] if position + 1 < len(words) else ""
        forced = pulled and position == 0 and kind is Kind.WORD and not VERSION_RE.match(following)
        if forced or kind in {Kind.IMAGE, Kind.OPTION} or (is_list and kind is Kind.WORD):
            reading.images.append(word)
        elif (hint := _hint(word, following)) is not None:
            reading.hints.append(hint)


def _hint(word: str, following: str) -> str | None:
    """`nginx` (or `Nginx`), with the version that follows it: what a prose title may mean."""
    name = word.lower()
    if not BARE_NAME_RE.match(name) or name in PROSE_WORDS or VERSION_RE.match(name):
        return None
    tagged = VERSION_RE.match(following) or following == "latest"
    return f"{name}:{following}" if tagged else name


def _lone_word(word: str, pulled: bool) -> bool:
    """A command or title that is one word means it as an image unless it is plainly prose
    (a pull command's operand is an image even when it is a prose word: `docker pull a`)."""
    lowered = word.lower()
    prose = lowered in PROSE_WORDS and not pulled
    return not (prose or lowered in CONJUNCTIONS or CJK_RE.search(word) or VERSION_RE.match(word))


def read(text: str) -> Reading:
    """The images, platforms and hints in a title or an issue form's Image section."""
    reading = Reading()
    for segment in COMMAND_SEPARATOR_RE.split(normalise(text)):
        _read_segment(_split_conjunctions(segment), reading)
    return reading


def _split_conjunctions(segment: str) -> str:
    return " ".join("," if word.lower() in CONJUNCTIONS else word for word in segment.split())


def read_platforms(text: str) -> Reading:
    """Platforms only: an issue form's Platform section (`All platforms` names none)."""
    reading = Reading()
    reading.leftover = len(_take_platforms(_words(normalise(text)), reading))
    return reading
