"""ConsumerGroup, Consumer (with its API key) and ConsumerSet (many consumers as one resource)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cdktn
from lockgate.constructs._resource import GatewayEntity, entity_name, lockgate_resource
from lockgate.constructs.errors import ConstructValidationError
from lockgate.constructs.policies import Policy, policy_props
from lockgate.constructs.runtime import GatewayRef
from lockgate.sdk import ApiKeyCreate, ConsumerRow, CostBudget, RateLimit, TokenLimit
from lockgate.sdk import Consumer as ConsumerModel
from lockgate.sdk import ConsumerGroup as ConsumerGroupModel
from lockgate.sdk.batch import ConsumerSet as ConsumerSetModel
from lockgate.sdk.consumer_files import ConsumerFileError, items_of, read_source, source_of
from pydantic import BaseModel

from constructs import Construct


def limit_props(
    rate_limit: RateLimit | None, token_limit: TokenLimit | None, cost_budget: CostBudget | None
) -> dict[str, Any]:
    return {
        "rate_limit": rate_limit.model_dump() if rate_limit else None,
        "token_limit": token_limit.model_dump(exclude_none=True) if token_limit else None,
        "cost_budget": cost_budget.model_dump() if cost_budget else None,
    }


class ConsumerGroup(GatewayEntity):
    """Consumers that share ACL access and per-consumer limits: a request limit (`RateLimit.per_minute(10)`), token
    limits (`TokenLimit(per_minute=10_000, per_day=1_000_000)`) and a cost budget (`CostBudget(usd=50)`)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        rate_limit: RateLimit | None = None,
        token_limit: TokenLimit | None = None,
        cost_budget: CostBudget | None = None,
        policies: Sequence[Policy] | None = None,
        name: str | None = None,
    ) -> None:
        """`policies`: prompt policies for its consumers, over the route's and the gateway's
        (`Policy.prompt_guard(enabled=False)`: no guard for this group)."""
        props = limit_props(rate_limit, token_limit, cost_budget)
        props["policies"] = policy_props(f"{scope.node.path}/{id}", policies)
        super().__init__(
            scope, id, gateway=gateway, name=name, type_name="consumer_group", model=ConsumerGroupModel, props=props
        )

    def add_consumer(self, id: str, *, with_key: bool = True, name: str | None = None, **limits: Any) -> Consumer:
        """A consumer of this group (`limits`: its own rate_limit, token_limit or cost_budget)."""
        return Consumer(self, id, gateway=self.gateway, groups=[self], with_key=with_key, name=name, **limits)


class Consumer(GatewayEntity):
    """Someone who calls the gateway. With `with_key=True` (default) it gets an API key: `consumer.api_key`. Its
    own `rate_limit`, `token_limit` or `cost_budget` replaces its groups' limits of that kind."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        groups: Sequence[ConsumerGroup] = (),
        with_key: bool = True,
        rate_limit: RateLimit | None = None,
        token_limit: TokenLimit | None = None,
        cost_budget: CostBudget | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            scope,
            id,
            gateway=gateway,
            name=name,
            type_name="consumer",
            model=ConsumerModel,
            props={"groups": [g.ref for g in groups], **limit_props(rate_limit, token_limit, cost_budget)},
        )
        self.key_resource = None
        if with_key:
            self.key_resource = lockgate_resource(
                Construct(self, "key"),
                "api_key",
                ApiKeyCreate,
                {"name": f"{self.name}-key", "consumer": self.ref},
                {"gateway": gateway.gateway_id},
            )

    @property
    def api_key(self) -> str:
        """The generated key (a sensitive token: put it in a sensitive output)."""
        if self.key_resource is None:
            raise AttributeError(f"{self.node.path}: created with with_key=False, so it has no api_key")
        return self.key_resource.get_string_attribute("key")


class ConsumerSet(Construct):
    """Many consumers and their keys as one `lockgate_consumer_set`, owned by 'terraform:NAME' (so a pipeline's
    consumers beside it are never touched): `ConsumerSet.from_csv(self, "customers", gateway=gw,
    path="customers.csv", keys_file="keys.csv")`, or `ConsumerSet(self, "team", gateway=gw, members=[...])` for a
    few inline rows (`ConsumerRow`s or dicts: name, groups, and key_sha256/expires_at or a `keys` list).

    Every row is validated at synth, naming the file, its line and the field. The set waits for the gateway's
    `ConsumerGroup`s its members name. Without `keys_file`, generated keys are in `keys` (a sensitive map)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        members: Sequence[ConsumerRow | Mapping[str, Any]] | None = None,
        source_file: str | Path | None = None,
        keys_file: str | Path | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.gateway = gateway
        self.name = entity_name(self, name)
        items: list[Any] = []
        try:
            if source_file is not None:
                source_file = Path(source_file).resolve()  # Terraform runs in cdktf.out/stacks/STACK
                rows = read_source(source_file).validated()
            else:
                items = [
                    m.model_dump(mode="json", exclude_defaults=True) if isinstance(m, BaseModel) else m
                    for m in members or []
                ]
                rows = source_of("members", items_of("members", items)).validated()
        except ConsumerFileError as exc:
            raise ConstructValidationError(f"{self.node.path}: {exc}") from None
        props = {
            "name": self.name,
            "source_file": str(source_file) if source_file is not None else None,
            "members": json.dumps(items) if source_file is None else None,
            "keys_file": str(Path(keys_file).resolve()) if keys_file is not None else None,
        }
        self.resource = lockgate_resource(
            self, "consumer_set", ConsumerSetModel, props, {"gateway": gateway.gateway_id}
        )
        used = {group for row in rows for group in row.groups}
        self.resource.depends_on = [  # plain addresses: Terraform takes no expression in depends_on
            f"{group.resource.terraform_resource_type}.{group.resource.friendly_unique_id}"
            for group in cdktn.TerraformStack.of(self).node.find_all()
            if isinstance(group, ConsumerGroup) and group.gateway is gateway and group.name in used
        ]
        self.member_count = len(rows)

    @classmethod
    def from_csv(
        cls,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        path: str | Path,
        keys_file: str | Path | None = None,
        name: str | None = None,
    ) -> ConsumerSet:
        """The consumers of a CSV file (columns name, groups separated by ';', optional key_sha256, expires_at)."""
        return cls(scope, id, gateway=gateway, source_file=path, keys_file=keys_file, name=name)

    @property
    def keys(self) -> Any:
        """Generated keys by key name (a sensitive map token; empty with `keys_file`)."""
        return self.resource.get_any_map_attribute("keys")
