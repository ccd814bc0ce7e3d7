"""The `process` runtime driver: start a lockgate process detached, wait until it is ready, stop it by PID.

"Ready" is decided by the caller (`ready(pid)`): a gateway is ready when /health answers with the instance id it was
started with, so another gateway already on the port can never pass for it. `ProcessGateways` runs a gateway as one
standalone `lockgate serve` (its data in DIRECTORY/data); the mock LLM uses the functions directly.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from lockgate.provider_bridge.drivers.base import DriverError, Placement, Started
from lockgate.sdk import GatewayRuntime, ServeOptions

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
__all__ = ["DriverError", "ProcessGateways", "free_port", "is_ours", "port_holder", "port_in_use", "start", "stop"]


LOWEST_PORT = 10_000


def free_port(host: str = "127.0.0.1") -> int:
    """A free port below the kernel's ephemeral range: a gateway keeps its ports across re-creation, and a port
    from that range could meanwhile be handed to some outgoing connection, which would then hold it."""
    first_ephemeral = _ephemeral_range()[0]
    for port in random.sample(range(LOWEST_PORT, first_ephemeral), min(200, max(0, first_ephemeral - LOWEST_PORT))):
        if not port_in_use(host, port):
            return port
    with socket.socket() as sock:  # nothing free below the range: take what the kernel offers
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (SO_REUSEADDR: connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])  # state 0A = LISTEN
    return inodes


def port_holder(port: int) -> str | None:
    """'pid N (command line)' of the process listening on `port`, if this user may see it."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {proc.name} ({command[:200]})"
    return None


def start(args: list[str], log_path: Path, ready: Callable[[int], bool]) -> int:
    """Run `lockgate ARGS` in its own session (it outlives Terraform) and wait until `ready(pid)`."""
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
        if ready(process.pid):
            return process.pid
        time.sleep(0.1)
    stop(process.pid)
    raise DriverError(f"not ready after {START_TIMEOUT_S:.0f}s:\n{_tail(log_path)}")


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


def answers_as(url: str, instance_id: str) -> bool:
    """Whether `url` (a /health) answers 200 with `instance_id`."""
    try:
        answer = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json().get("instance_id") == instance_id


class ProcessGateways:
    """A gateway as one standalone `lockgate serve` process (GatewayDriver)."""

    def start(self, spec: GatewayRuntime, where: Placement) -> Started:
        (proxy_port,) = where.proxy_ports
        options = ServeOptions(
            data_dir=str(where.directory / "data"),
            admin_token_file=str(where.admin_token_file),
            proxy_host=spec.host,
            proxy_port=proxy_port,
            admin_host=spec.host,
            admin_port=where.admin_port,
            workers=spec.workers,
            name=spec.name,
            instance_id=where.instance_id,
        )
        admin_url = f"http://{spec.host}:{where.admin_port}"
        pid = start(
            options.args(),
            where.directory / "gateway.log",
            lambda _: answers_as(admin_url + "/health", where.instance_id),
        )
        return Started(admin_url, (f"http://{spec.host}:{proxy_port}",), pid)

    def running(self, spec: GatewayRuntime, pid: int) -> int | None:
        return 1 if is_ours(pid) else None

    def update(self, old: GatewayRuntime, new: GatewayRuntime, where: Placement, pid: int) -> Started:
        if old.workers != new.workers:  # a process's workers are set at its start
            stop(pid)
            return self.start(new, where)
        (proxy_port,) = where.proxy_ports
        return Started(f"http://{new.host}:{where.admin_port}", (f"http://{new.host}:{proxy_port}",), pid)

    def stop(self, spec: GatewayRuntime, pid: int) -> None:
        stop(pid)
