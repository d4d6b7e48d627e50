"""The unit tier opens no sockets and starts no processes: a test that tries fails at once, so
a test that needs a registry, skopeo or the GitHub stand-in belongs in tests/integration."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest


class IntegrationOnly(RuntimeError):
    """What a unit test gets when it reaches for the network or a process."""


def _refuse(*_args: object, **_kwargs: object) -> NoReturn:
    raise IntegrationOnly("unit tests open no sockets and start no processes: "
                          "move this test to tests/integration")


@pytest.fixture(autouse=True)
def no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse)
    monkeypatch.setattr(os, "posix_spawn", _refuse)
    monkeypatch.setattr(os, "posix_spawnp", _refuse)
    monkeypatch.setattr(os, "fork", _refuse)
    monkeypatch.setattr(os, "system", _refuse)
    for name in ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe"):
        monkeypatch.setattr(os, name, _refuse)
    yield
