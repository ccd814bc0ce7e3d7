"""Gateway and MockLlm: the runtimes a stack deploys, and how a gateway runs (ProcessRuntime, DockerRuntime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.constructs._resource import add_remote_gateway, entity_name, lockgate_resource
from lockgate.constructs.errors import validate
from lockgate.constructs.policies import Policy, policy_props
from lockgate.sdk import GatewayRuntime, GatewaySettings, MockLlmRuntime, ModelPrice
from lockgate.sdk.runtime import RemoteGateway as RemoteGatewayModel

from constructs import Construct

if TYPE_CHECKING:
    from lockgate.constructs.consumers import Consumer, ConsumerGroup
    from lockgate.constructs.environment import Overlay
    from lockgate.constructs.route import Route
    from lockgate.constructs.upstream import LlmUpstream


@dataclass(frozen=True, kw_only=True)
class ProcessRuntime:
    """The gateway as one local process (the default: `make demo` needs no Docker). `workers`: proxy processes
    sharing the proxy port."""

    workers: int | None = None

    def props(self) -> dict[str, Any]:
        return {"driver": "process", "workers": self.workers}


@dataclass(frozen=True, kw_only=True)
class DockerRuntime:
    """The gateway as a control-plane container and `data_planes` data-plane containers (each with `workers` proxy
    processes and its own port), from `image` (`lockgate image build`). `pass_env` names environment variables
    handed to the data planes (the upstream secrets they resolve as `env:NAME`); `environment` and `region` label
    every container; `keep_volume` keeps the control plane's store at destroy."""

    data_planes: int | None = None
    workers: int | None = None
    image: str | None = None
    environment: str | None = None
    region: str | None = None
    pass_env: tuple[str, ...] = ()
    keep_volume: bool | None = None

    def props(self) -> dict[str, Any]:
        return {
            "driver": "docker",
            "data_planes": self.data_planes,
            "workers": self.workers,
            "image": self.image,
            "environment": self.environment,
            "region": self.region,
            "pass_env": list(self.pass_env) or None,
            "keep_volume": self.keep_volume,
        }


class GatewayRef(Construct):
    """What entities need of a gateway (`gateway_id`, the `overlay` of its environment), and the helpers that add
    them to it."""

    overlay: Overlay | None = None

    @property
    def gateway_id(self) -> str:
        raise NotImplementedError

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


class RemoteGateway(GatewayRef):
    """A gateway this stack does not run (another host or region; run by another stack or a platform team), managed
    through its admin API: `admin_url` and a secret reference to its admin token (`env:NAME` or `file:PATH`; never
    the token). It becomes a `gateway` block of the stack's lockgate provider; entities take it like a Gateway."""

    def __init__(self, scope: Construct, id: str, *, admin_url: str, admin_token_ref: str, name: str | None = None):
        super().__init__(scope, id)
        self.name = entity_name(self, name)
        validate(
            RemoteGatewayModel,
            {"name": self.name, "admin_url": admin_url, "admin_token_ref": admin_token_ref},
            self.node.path,
            set(),
        )
        add_remote_gateway(self, {"name": self.name, "admin_url": admin_url, "admin_token_ref": admin_token_ref})

    @property
    def gateway_id(self) -> str:
        return self.name


class Gateway(GatewayRef):
    """A gateway runtime: `runtime=ProcessRuntime()` (the default) runs it locally, `runtime=DockerRuntime(...)` as
    containers; ports are picked when omitted (and kept until destroy).

    Attributes (tokens): `proxy_url`, `proxy_urls` (one per data plane), `admin_url`, `gateway_id`, `network`,
    `data_plane_states`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str | None = None,
        runtime: ProcessRuntime | DockerRuntime | None = None,
        host: str | None = None,
        proxy_port: int | None = None,
        admin_port: int | None = None,
        max_body_bytes: int | None = None,
        max_header_bytes: int | None = None,
        max_headers: int | None = None,
        header_timeout_s: float | None = None,
        idle_timeout_s: float | None = None,
        prices: list[ModelPrice] | None = None,
        policies: list[Policy] | None = None,
        overlay: Overlay | None = None,
    ) -> None:
        """The data plane settings (`max_body_bytes`, ...) are GatewaySettings'; unset ones keep its defaults.
        `prices` (`ModelPrice(model=..., input=..., output=...)`, USD per million tokens) override or add to the
        gateway's price catalogue; `policies` (prompt policies: `Policy.prompt_guard(...)`) run on every route
        unless a route or a consumer group sets its own. `overlay`: its environment's, applied to every entity
        added to it (EnvironmentStack passes it)."""
        super().__init__(scope, id)
        self.name = entity_name(self, name)
        self.runtime = runtime or ProcessRuntime()
        self.overlay = overlay
        given = {
            "max_body_bytes": max_body_bytes,
            "max_header_bytes": max_header_bytes,
            "max_headers": max_headers,
            "header_timeout_s": header_timeout_s,
            "idle_timeout_s": idle_timeout_s,
            "prices": [price.model_dump(exclude_none=True) for price in prices] if prices else None,
            "policies": policy_props(f"{scope.node.path}/{id}", policies),
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
                **self.runtime.props(),
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
    def proxy_urls(self) -> list[str]:
        return self.resource.get_list_attribute("proxy_urls")

    @property
    def admin_url(self) -> str:
        return self.resource.get_string_attribute("admin_url")

    @property
    def network(self) -> str:
        """The Docker network of a docker gateway ('' for a process one)."""
        return self.resource.get_string_attribute("network")

    @property
    def data_plane_states(self) -> list[str]:
        return self.resource.get_list_attribute("data_plane_states")


class MockLlm(Construct):
    """A local mock LLM (for demos and tests) in one provider's wire format (`type`: 'openai', 'azure',
    'anthropic'). Given a `gateway` that runs on Docker, the mock is a container on that gateway's network, where its
    data planes reach it. Attribute (token): `base_url`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: Gateway | None = None,
        name: str | None = None,
        type: str | None = None,
        port: int | None = None,
        chunks: int | None = None,
        chunk_delay_ms: float | None = None,
        latency_ms: float | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.name = entity_name(self, name)
        self.type = type or "openai"
        self.resource = lockgate_resource(
            self,
            "mock_llm",
            MockLlmRuntime,
            {
                "name": self.name,
                **(
                    {"driver": "docker", "network": gateway.network, "image": gateway.runtime.image}
                    if gateway is not None and isinstance(gateway.runtime, DockerRuntime)
                    else {}
                ),
                "type": type,
                "port": port,
                "chunks": chunks,
                "chunk_delay_ms": chunk_delay_ms,
                "latency_ms": latency_ms,
            },
        )

    @property
    def base_url(self) -> str:
        return self.resource.get_string_attribute("base_url")
