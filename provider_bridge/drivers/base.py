"""What every gateway runtime driver does for the lockgate_gateway resource: start, say what runs, update in
place, stop. One module per driver implements it (process.py, docker.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lockgate.sdk import GatewayRuntime


class DriverError(RuntimeError):
    """A runtime could not be started, changed or stopped; the message says why and how to fix it."""


@dataclass(frozen=True)
class Placement:
    """Where a gateway runs on this machine: its ports, its directory (tokens, logs) and this start's identity."""

    admin_port: int
    proxy_ports: tuple[int, ...]  # one per data plane
    directory: Path
    instance_id: str

    @property
    def admin_token_file(self) -> Path:
        return self.directory / "admin-token"

    @property
    def cluster_token_file(self) -> Path:
        return self.directory / "cluster-token"


@dataclass(frozen=True)
class Started:
    admin_url: str
    proxy_urls: tuple[str, ...]
    pid: int = 0  # the process driver's process


class GatewayDriver(Protocol):
    def start(self, spec: GatewayRuntime, where: Placement) -> Started:
        """Start everything and wait until it answers; on failure leave nothing behind and raise DriverError."""
        ...

    def running(self, spec: GatewayRuntime, pid: int) -> int | None:
        """How many data planes of the gateway serve now; None if the gateway itself (its admin API) is gone."""
        ...

    def update(self, old: GatewayRuntime, new: GatewayRuntime, where: Placement, pid: int) -> Started:
        """Make the running gateway `new` in place (`where` has the ports `new` needs)."""
        ...

    def stop(self, spec: GatewayRuntime, pid: int) -> None:
        """Stop and remove everything the gateway runs (what `keep_volume` asks to keep stays)."""
        ...
