"""The L1 layer: a lockgate Terraform resource written with plain overrides (no generated bindings needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cdktn
from lockgate.constructs.errors import validate

if TYPE_CHECKING:
    from lockgate.constructs.runtime import GatewayRef
from pydantic import BaseModel

from constructs import Construct

PROVIDER_SOURCE = "lockgate.dev/lockgate/lockgate"
PROVIDER_VERSION = "~> 0.1"


def provider_for(scope: Construct) -> cdktn.TerraformProvider:
    """The stack's single lockgate provider block, created on first use."""
    stack = cdktn.TerraformStack.of(scope)
    existing = stack.node.try_find_child("lockgate-provider")
    if existing is not None:
        return existing  # type: ignore[return-value]
    provider = cdktn.TerraformProvider(
        stack,
        "lockgate-provider",
        terraform_resource_type="lockgate",
        terraform_provider_source=PROVIDER_SOURCE,
        terraform_generator_metadata=cdktn.TerraformProviderGeneratorMetadata(
            provider_name="lockgate", provider_version_constraint=PROVIDER_VERSION
        ),
    )
    return provider


def add_remote_gateway(scope: Construct, block: dict[str, str]) -> None:
    """Add a `gateway { name admin_url admin_token_ref }` block to the stack's lockgate provider."""
    provider = provider_for(scope)
    blocks: list[dict[str, str]] = getattr(provider, "_lockgate_remote", [])
    blocks.append(block)
    provider._lockgate_remote = blocks  # type: ignore[attr-defined]
    provider.add_override("gateway", blocks)


def _unresolved(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_unresolved(v) for v in value.values())
    if isinstance(value, list):
        return any(_unresolved(v) for v in value)
    return isinstance(value, str) and cdktn.Token.is_unresolved(value)


def lockgate_resource(
    scope: Construct, type_name: str, model: type[BaseModel], props: dict[str, Any], extra: dict[str, Any] | None = None
) -> cdktn.TerraformResource:
    """Validate `props` against the SDK model (naming the construct path), then emit the resource."""
    props = {k: v for k, v in props.items() if v is not None}
    validate(model, props, scope.node.path, {k for k, v in props.items() if _unresolved(v)})
    resource = cdktn.TerraformResource(
        scope, "resource", terraform_resource_type=f"lockgate_{type_name}", provider=provider_for(scope)
    )
    for key, value in {**props, **(extra or {})}.items():
        resource.add_override(key, value)
    return resource


def entity_name(construct: Construct, name: str | None) -> str:
    """The entity's name: given, or the construct id."""
    return name if name is not None else construct.node.id


class GatewayEntity(Construct):
    """Base of the constructs that live in a gateway: each carries its gateway, its name and its resource."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        name: str | None,
        type_name: str,
        model: type[BaseModel],
        props: dict[str, Any],
    ) -> None:
        super().__init__(scope, id)
        self.gateway = gateway
        self.name = entity_name(self, name)
        if gateway.overlay is not None:  # the environment's differences, before validation
            props = gateway.overlay.apply(type_name, self.name, props)
        self.resource = lockgate_resource(
            self, type_name, model, {"name": self.name, **props}, {"gateway": gateway.gateway_id}
        )

    @property
    def ref(self) -> str:
        """The name, as a reference that makes dependents wait for this entity."""
        return self.resource.get_string_attribute("name")
