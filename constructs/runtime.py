"""Gateway and MockLlm: the runtimes a stack deploys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from lockgate.constructs._resource import entity_name, lockgate_resource
from lockgate.constructs.errors import validate
from lockgate.sdk import GatewayRuntime, GatewaySettings, MockLlmRuntime

from constructs import Construct

if TYPE_CHECKING:
    from lockgate.constructs.consumers import Consumer, ConsumerGroup
    from lockgate.constructs.route import Policy, Route
    from lockgate.constructs.upstream import LlmUpstream


class Gateway(Construct):
    """A gateway runtime (admin API + proxy). `driver="process"` runs it locally; ports are picked when omitted.

    Attributes (tokens): `proxy_url`, `admin_url`, `gateway_id`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str | None = None,
        driver: Literal["process"] = "process",
        host: str | None = None,
        proxy_port: int | None = None,
        admin_port: int | None = None,
        max_body_bytes: int | None = None,
        max_header_bytes: int | None = None,
        max_headers: int | None = None,
        header_timeout_s: float | None = None,
        idle_timeout_s: float | None = None,
    ) -> None:
        """The data plane settings (`max_body_bytes`, ...) are GatewaySettings'; unset ones keep its defaults."""
        super().__init__(scope, id)
        self.name = entity_name(self, name)
        given = {
            "max_body_bytes": max_body_bytes,
            "max_header_bytes": max_header_bytes,
            "max_headers": max_headers,
            "header_timeout_s": header_timeout_s,
            "idle_timeout_s": idle_timeout_s,
        }
        settings = {k: v for k, v in given.items() if v is not None} or None
        if settings is not None:
            validate(GatewaySettings, settings, self.node.path, set())
        self.resource = lockgate_resource(
            self,
            "gateway",
            GatewayRuntime,
            {
                "name": self.name,
                "driver": driver,
                "host": host,
                "proxy_port": proxy_port,
                "admin_port": admin_port,
                "settings": settings,
            },
        )

    @property
    def gateway_id(self) -> str:
        return self.resource.get_string_attribute("id")

    @property
    def proxy_url(self) -> str:
        return self.resource.get_string_attribute("proxy_url")

    @property
    def admin_url(self) -> str:
        return self.resource.get_string_attribute("admin_url")

    def add_upstream(self, id: str, **props: Any) -> LlmUpstream:
        from lockgate.constructs.upstream import LlmUpstream

        return LlmUpstream(self, id, gateway=self, **props)

    def add_route(
        self, id: str, *, upstream: LlmUpstream, paths: list[str], policies: list[Policy] | None = None, **props: Any
    ) -> Route:
        from lockgate.constructs.route import Route

        return Route(self, id, gateway=self, upstream=upstream, paths=paths, policies=policies, **props)

    def add_consumer_group(self, id: str, **props: Any) -> ConsumerGroup:
        from lockgate.constructs.consumers import ConsumerGroup

        return ConsumerGroup(self, id, gateway=self, **props)

    def add_consumer(self, id: str, **props: Any) -> Consumer:
        from lockgate.constructs.consumers import Consumer

        return Consumer(self, id, gateway=self, **props)


class MockLlm(Construct):
    """A local OpenAI-compatible mock LLM (for demos and tests). Attribute (token): `base_url`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str | None = None,
        port: int | None = None,
        chunks: int | None = None,
        chunk_delay_ms: float | None = None,
        latency_ms: float | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.name = entity_name(self, name)
        self.resource = lockgate_resource(
            self,
            "mock_llm",
            MockLlmRuntime,
            {
                "name": self.name,
                "port": port,
                "chunks": chunks,
                "chunk_delay_ms": chunk_delay_ms,
                "latency_ms": latency_ms,
            },
        )

    @property
    def base_url(self) -> str:
        return self.resource.get_string_attribute("base_url")
