"""The `process` runtime driver: start a lockgate process detached, wait until healthy, stop it by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class DriverError(RuntimeError):
    """A process could not be started or stopped; the message says why (with the log's tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start(args: list[str], log_path: Path, health_url: str) -> int:
    """Run `lockgate ARGS` in its own session (it outlives Terraform) and wait for `health_url` to answer 200."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "lockgate.cli.main", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DriverError(f"the process exited with status {process.returncode}:\n{_tail(log_path)}")
        if healthy(health_url):
            return process.pid
        time.sleep(0.1)
    stop(process.pid)
    raise DriverError(f"not healthy after {START_TIMEOUT_S:.0f}s at {health_url}:\n{_tail(log_path)}")


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def is_ours(pid: int) -> bool:
    """Whether `pid` is alive and still a lockgate process (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"lockgate" in cmdline and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def stop(pid: int) -> None:
    if not is_ours(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not is_ours(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
