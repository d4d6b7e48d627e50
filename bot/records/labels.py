"""The labels the bot sets on request issues: one per outcome, and the request label itself.

Rule: the request label (MIRROR_REQUEST_LABEL, default `sync image`) marks an issue as a request;
each finished outcome gets its own label, and a terminal label (succeeded, denied, invalid) means
no run takes the issue up again until a person changes it. bot/flows/conclude.py's table says
which outcome sets which.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Labels:
    request: str = "sync image"
    succeeded: str = "sync image succeeded"
    failure: str = "sync image failure"
    denied: str = "sync image denied"
    invalid: str = "sync image invalid"

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.succeeded, self.denied, self.invalid})
