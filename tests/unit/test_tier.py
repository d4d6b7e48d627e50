"""The unit tier's guard holds: a socket connect or a process spawn fails at once."""

from __future__ import annotations

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
