"""Where each gateway's admin API is: a registry under LOCKGATE_HOME that the gateway resource writes.

    $LOCKGATE_HOME/gateways/NAME/endpoint.json   {"admin_url", "proxy_url", "admin_token_ref", "pid"}

Config resources name their gateway; the provider looks it up here, so no admin token ever enters Terraform state.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lockgate.sdk import AdminClient
from lockgate.sdk.secrets import resolve_secret


def lockgate_home() -> Path:
    return Path(os.environ.get("LOCKGATE_HOME") or Path.home() / ".lockgate")


def gateway_dir(name: str) -> Path:
    return lockgate_home() / "gateways" / name


@dataclass(frozen=True)
class Endpoint:
    admin_url: str
    proxy_url: str
    admin_token_ref: str
    pid: int

    def client(self) -> AdminClient:
        return AdminClient(self.admin_url, resolve_secret(self.admin_token_ref))


def register(name: str, endpoint: Endpoint) -> None:
    directory = gateway_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "endpoint.json").write_text(json.dumps(asdict(endpoint), indent=2))


def lookup(name: str) -> Endpoint | None:
    try:
        return Endpoint(**json.loads((gateway_dir(name) / "endpoint.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def unregister(name: str) -> None:
    (gateway_dir(name) / "endpoint.json").unlink(missing_ok=True)
