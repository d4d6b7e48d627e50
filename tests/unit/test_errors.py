"""One definition of error kinds and which are transient, and what each means for a request."""

from __future__ import annotations

import pytest

from bot.copy.model import SyncResult
from bot.errors import ErrorKind, TransferError
from bot.flows.conclude import outcome_of
from bot.flows.plan import Plan
from bot.records.record import Outcome

TRANSIENT = {"mirror_unauthorized", "rate_limited", "network", "timeout", "server_error",
             "digest_mismatch", "unknown"}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_each_kind_carries_its_retry_rule_and_decides_the_outcome(kind: ErrorKind) -> None:
    assert kind.transient == (kind.value in TRANSIENT)
    failed = SyncResult("docker.io/library/x:1", None, "failed", error=TransferError(kind, "x"))
    assert outcome_of(Plan(()), [failed]) == (Outcome.FAILED if kind.transient else Outcome.INVALID)
