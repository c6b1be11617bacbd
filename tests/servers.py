"""Real servers on 127.0.0.1 for the tests: started in their own process group, stopped by PID.

Importable from every test module (pytest puts this folder, which holds conftest.py, on the path).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``url`` answers 200; fails with the server's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"{server.args[:4]} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (workers included), SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@contextlib.contextmanager
def running(
    command: list[str], ready_url: str, log: Path, env: dict, timeout: float = 180, cwd=None
) -> Iterator[subprocess.Popen]:
    """A server process, ready once ``ready_url`` answers 200, stopped on exit."""
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        wait_for(ready_url, server, log, timeout)
        yield server
    finally:
        stop(server)
