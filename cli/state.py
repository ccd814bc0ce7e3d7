"""What a deployed stack's Terraform state says about its gateways (read with `terraform show -json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.cli import iac


@dataclass(frozen=True)
class DeployedGateway:
    name: str
    admin_url: str
    admin_token_ref: str  # "file:PATH": state never holds the token itself

    def admin_token(self) -> str:
        path = Path(self.admin_token_ref.removeprefix("file:"))
        if not self.admin_token_ref.startswith("file:"):
            raise iac.IacError(f"gateway {self.name!r}: admin_token_ref is not a file: reference")
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise iac.IacError(
                f"gateway {self.name!r}: cannot read its admin token file {path}: {exc.strerror} "
                "(is the gateway still deployed on this machine?)"
            ) from None


def gateways(root: Path, stack: str) -> list[DeployedGateway]:
    return gateways_in(json.loads(str(iac.terraform(root, stack, "show", "-json", synthesize=False, capture=True))))


def gateways_in(shown: dict[str, Any]) -> list[DeployedGateway]:
    """The gateways in `terraform show -json`'s state (or a plan's `prior_state`)."""
    values = shown.get("values") or {}
    return [
        DeployedGateway(r["values"]["name"], r["values"]["admin_url"], r["values"]["admin_token_ref"])
        for r in _resources(values.get("root_module") or {})
        if r.get("type") == "lockgate_gateway" and r.get("mode") == "managed"
    ]


def gateway(root: Path, stack: str, name: str | None) -> DeployedGateway:
    """The stack's gateway named `name`, or its only one."""
    found = gateways(root, stack)
    names = ", ".join(g.name for g in found)
    if not found:
        raise iac.IacError(f"stack {stack!r} has no deployed gateway: run `lockgate deploy {stack}` first")
    if name is None:
        if len(found) > 1:
            raise iac.IacError(f"stack {stack!r} has {len(found)} gateways ({names}): pick one with --gateway NAME")
        return found[0]
    for candidate in found:
        if candidate.name == name:
            return candidate
    raise iac.IacError(f"stack {stack!r} has no gateway named {name!r}; it has: {names}")


def _resources(module: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = list(module.get("resources") or [])
    for child in module.get("child_modules") or []:
        found += _resources(child)
    return found
