"""The doctor's quota check: what each quota-limited registry says is left of its pull quota, and
whether our pulls from it are anonymous.

Rule: one manifest HEAD (a HEAD is no pull) of Docker's own probe image
(`ratelimitpreview/test:latest`, the one Docker documents for reading the quota) at each registry
of `settings.quota_registries`, through the same registries.conf and credentials as every copy.
A quota the registry tells is reported as a warning, never a failure: it is a fact of the
account or the address, and a request beyond it waits (deferred) and resumes by itself. So is a
registry that cannot be asked now. A registry that tells no quota (a paid account, or none at
all) passes. Pulls are anonymous when no login is configured for the name the HEAD really goes
to; anonymous pulls are counted per address (Docker Hub: 100 per 6 hours, 200 signed in).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from bot.errors import ErrorKind, TransferError
from bot.flows.doctor_checks import Check, said
from bot.image.reference import Reference
from bot.registry.containers_conf import Credentials, RegistriesConf
from bot.registry.quota import Ledger, window_text

PROBE_REPOSITORY = "ratelimitpreview/test"


class QuotaProbe(Protocol):
    def head_digest(self, ref: Reference) -> str | None: ...
    def quota(self, ref: Reference) -> Ledger: ...


def check_quotas(registries: Iterable[str], client: QuotaProbe, conf: RegistriesConf,
                 credentials: Credentials, secrets: Iterable[str]) -> Iterator[Check]:
    """One line per quota-limited registry."""
    for registry in registries:
        yield check_quota(registry, client, conf, credentials, secrets)


def check_quota(registry: str, client: QuotaProbe, conf: RegistriesConf,
                credentials: Credentials, secrets: Iterable[str]) -> Check:
    name = f"quota {registry}"
    probe = Reference(registry, PROBE_REPOSITORY, "latest")
    login = credentials.for_name(conf.resolve(probe).name)
    who = f"signed in as {login.username}" if login else "anonymous"
    try:
        client.head_digest(probe)
    except TransferError as error:
        if error.kind is ErrorKind.RATE_LIMITED:
            return Check.warning(name, f"the pull quota is spent for now ({who}): {registry} "
                                 "answers 429", "requests wait (deferred) and resume by themselves "
                                 "when pulls come back")
        return Check.warning(name, f"cannot read the pull quota ({who}): "
                             f"{said(error.message, secrets)}",
                             "copies from it will say more; check the network and registries.conf")
    told = client.quota(probe).told
    if told is None:
        return Check.passed(name, f"{registry} tells no pull quota ({who}): a paid account, or "
                            "no limit")
    limit = f" of {told.limit}" if told.limit is not None else ""
    window = f" per {window_text(told.window)}" if told.window else ""
    counted = f", counted for {said(told.source, secrets)}" if told.source else ""
    fix = ("sign in (a login for it in REGISTRY_AUTH_FILE) to count pulls per account rather "
           "than per address; " if login is None else "") + \
        "a request beyond the quota waits (deferred) and resumes by itself"
    return Check.warning(name, f"{told.remaining}{limit} pulls left{window}{counted} ({who})",
                         fix)
