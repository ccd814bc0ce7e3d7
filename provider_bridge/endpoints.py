"""Where each gateway is and what the provider knows about it: a directory per gateway under LOCKGATE_HOME.

    $LOCKGATE_HOME/gateways/NAME/endpoint.json     {"admin_url", "proxy_url", "admin_token_ref", "pid", "instance_id"}
    $LOCKGATE_HOME/gateways/NAME/ports.json        the ports it runs on, kept across re-creation (removed on destroy)
    $LOCKGATE_HOME/gateways/NAME/destroy-planned   the instance id of a gateway a plan destroys (see below)

Config resources name their gateway; the provider looks it up here, so no admin token ever enters Terraform state.
Before using a gateway's admin API the provider checks that `/health` answers with the registered instance id, so
nothing is ever configured on another gateway that took the port.

Plan and apply may run in different provider processes (`terraform plan -out` + `apply`; Terraform also starts a
fresh provider for each walk), so "this gateway is being destroyed" is kept on disk: the gateway's destroy plan
writes `destroy-planned`, any other plan or read of it removes it, and an entity whose delete is refused (409)
while its gateway is planned for destruction leaves itself to the gateway's destroy.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from lockgate.sdk import AdminClient, Health, LockgateError, TransportError
from lockgate.sdk.secrets import resolve_secret
from pydantic import ValidationError

HEALTH_TIMEOUT_S = 2.0


class WrongGateway(LockgateError):
    """The address registered for a gateway is answered by another process (another gateway took the port)."""


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
    instance_id: str = ""  # empty in registrations written before instance ids existed

    def client(self) -> AdminClient:
        token = resolve_secret(self.admin_token_ref, "Terraform's environment; export {name} where terraform runs")
        return AdminClient(self.admin_url, token, owner=TERRAFORM)


TERRAFORM = "terraform"  # the owner of what the provider creates: it changes nothing of another owner


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


# -- identity --------------------------------------------------------------------------------------------------
def health(url: str) -> Health | None:
    """What answers `GET url` (a /health URL), or None if nothing (or nothing lockgate-shaped) does."""
    try:
        return Health.model_validate(httpx.get(url, timeout=HEALTH_TIMEOUT_S).raise_for_status().json())
    except (httpx.HTTPError, ValueError, ValidationError):
        return None


def is_registered_process(endpoint: Endpoint, answer: Health | None) -> bool:
    return answer is not None and (not endpoint.instance_id or answer.instance_id == endpoint.instance_id)


def verify(name: str, endpoint: Endpoint) -> None:
    """Raise unless the registered gateway process itself answers at its admin URL."""
    url = endpoint.admin_url + "/health"
    answer = health(url)
    if answer is None:
        raise TransportError(f"{url} does not answer: gateway '{name}' is not running")
    if not is_registered_process(endpoint, answer):
        who = f"gateway '{answer.name}'" if answer.name else "another lockgate process"
        raise WrongGateway(
            f"{endpoint.admin_url} is answered by {who} (instance {answer.instance_id}), not by gateway '{name}' "
            f"(instance {endpoint.instance_id}), which is no longer running. Nothing was changed. Stop the other "
            "gateway or give it other ports, then run terraform apply to start this one again."
        )


# -- ports kept across re-creation -----------------------------------------------------------------------------
def saved_ports(directory: Path) -> dict[str, int]:
    try:
        ports = json.loads((directory / "ports.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in ports.items() if isinstance(v, int)} if isinstance(ports, dict) else {}


def save_ports(directory: Path, ports: dict[str, int]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ports.json").write_text(json.dumps(ports, indent=2))


# -- "this gateway is planned for destruction" -----------------------------------------------------------------
def _marker(name: str) -> Path:
    return gateway_dir(name) / "destroy-planned"


def mark_destroy_planned(name: str) -> None:
    endpoint = lookup(name)
    if endpoint is not None:  # nothing registered: nothing to leave behind either
        _marker(name).write_text(endpoint.instance_id)


def clear_destroy_planned(name: str) -> None:
    _marker(name).unlink(missing_ok=True)


def destroy_planned(name: str) -> bool:
    """Whether the gateway registered under `name` now is the one a plan is destroying."""
    endpoint = lookup(name)
    try:
        planned = _marker(name).read_text()
    except OSError:
        return False
    return endpoint is not None and planned == endpoint.instance_id
