"""What a stack's Terraform plan will make its gateway run, read from `terraform show -json PLAN`.

Terraform manages some of a gateway's entities, not all (a pipeline's consumers live beside them), so what the
gateway runs next is what it runs now with the plan's creates, updates and deletes of the lockgate entity
resources applied: each read with the provider's own state-to-model mapping, so it is the model the provider will
send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from lockgate.cli.iac import IacError
from lockgate.cli.impact import FieldChange, diff
from lockgate.provider_bridge.framework import EntityResource
from lockgate.provider_bridge.provider import RESOURCES
from lockgate.provider_bridge.schema import parse
from lockgate.sdk import GatewayConfig, GatewayRuntime, GatewaySettings
from lockgate.sdk.config import ENTITY_KINDS
from pydantic import BaseModel, ValidationError

ENTITIES: dict[str, type[EntityResource]] = {  # the resources that are one config entity each (keys never shown)
    f"lockgate_{r.name}": r
    for r in RESOURCES
    if issubclass(r, EntityResource)
    and r.kind in ENTITY_KINDS
    and r.kind != "api_keys"
    and get_args(GatewayConfig.model_fields[r.kind].annotation) == (r.model,)
}
GATEWAY = "lockgate_gateway"


@dataclass(frozen=True)
class Planned:
    config: GatewayConfig  # what the gateway will serve
    runtime: list[FieldChange]  # how it will run (data planes, image, ...), from the gateway resource
    add: int
    change: int
    destroy: int

    @property
    def changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)


def planned(plan: dict[str, Any], current: GatewayConfig) -> Planned:
    entities: dict[str, dict[str, Any]] = {kind: {e.name: e for e in getattr(current, kind)} for kind in ENTITY_KINDS}
    settings = current.gateway
    runtime: list[FieldChange] = []
    counts = {"create": 0, "update": 0, "delete": 0}
    for change in plan.get("resource_changes") or []:
        if change.get("mode") != "managed" or not str(change.get("type", "")).startswith("lockgate_"):
            continue
        actions = change["change"]["actions"]
        for action in actions:
            if action in counts:
                counts[action] += 1
        before, after = change["change"].get("before"), change["change"].get("after")
        resource = ENTITIES.get(change["type"])
        if resource is not None:
            if "delete" in actions and before:
                entities[resource.kind].pop(before["name"], None)
            if ("create" in actions or "update" in actions) and after:
                entity = _read(resource.model, after, change["address"])
                entities[resource.kind][after["name"]] = entity
        elif change["type"] == GATEWAY and after and actions != ["no-op"]:
            settings = _read(GatewaySettings, after.get("settings") or {}, change["address"] + ".settings")  # type: ignore[assignment]
            if before:
                unknown = change["change"].get("after_unknown") or {}
                runtime += [c for c in diff(_runtime(before), _runtime(after)) if not unknown.get(c.path)]
    fields: dict[str, Any] = {kind: list(found.values()) for kind, found in entities.items()}
    config = GatewayConfig.model_construct(
        gateway=settings, **fields
    )  # not validated: a report describes what would run, even a config the gateway would refuse
    return Planned(config, runtime, counts["create"], counts["update"], counts["delete"])


def _read(model: type[BaseModel], values: dict[str, Any], address: str) -> BaseModel:
    try:
        return parse(model, values)
    except ValidationError as exc:
        raise IacError(f"{address}: the plan holds a value lockgate cannot read: {exc.errors()[0]['msg']}") from None


def _runtime(values: dict[str, Any]) -> dict[str, Any]:
    """The gateway resource's own settings (not what it computes: ports picked, URLs, states)."""
    return {k: values.get(k) for k in GatewayRuntime.model_fields if k != "settings"}
