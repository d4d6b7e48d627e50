"""The unit tier's guard holds: a socket connect or a process spawn fails at once (the exec
family is guarded too, but not tried here: without the guard it would replace the test run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import IntegrationOnly


def test_a_socket_connect_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(IntegrationOnly):
        sock.connect(("127.0.0.1", 9))


def test_a_process_spawn_is_refused() -> None:
    with pytest.raises(IntegrationOnly):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with pytest.raises(IntegrationOnly):
        os.system("true")  # noqa: S605 - the call the guard must stop
