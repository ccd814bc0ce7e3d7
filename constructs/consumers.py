"""ConsumerGroup and Consumer (with its API key)."""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.constructs._resource import GatewayEntity, lockgate_resource
from lockgate.constructs.runtime import Gateway
from lockgate.sdk import ApiKeyCreate, RateLimit
from lockgate.sdk import Consumer as ConsumerModel
from lockgate.sdk import ConsumerGroup as ConsumerGroupModel

from constructs import Construct


class ConsumerGroup(GatewayEntity):
    """Consumers that share ACL access and a per-consumer rate limit (`RateLimit.per_minute(10)`)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: Gateway,
        rate_limit: RateLimit | None = None,
        name: str | None = None,
    ) -> None:
        props = {"rate_limit": rate_limit.model_dump() if rate_limit else None}
        super().__init__(
            scope, id, gateway=gateway, name=name, type_name="consumer_group", model=ConsumerGroupModel, props=props
        )

    def add_consumer(self, id: str, *, with_key: bool = True, name: str | None = None) -> Consumer:
        return Consumer(self, id, gateway=self.gateway, groups=[self], with_key=with_key, name=name)


class Consumer(GatewayEntity):
    """Someone who calls the gateway. With `with_key=True` (default) it gets an API key: `consumer.api_key`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: Gateway,
        groups: Sequence[ConsumerGroup] = (),
        with_key: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(
            scope,
            id,
            gateway=gateway,
            name=name,
            type_name="consumer",
            model=ConsumerModel,
            props={"groups": [g.ref for g in groups]},
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
