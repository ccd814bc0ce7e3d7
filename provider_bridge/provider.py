"""The `lockgate` Terraform provider: its address, schema and resources."""

from __future__ import annotations

import threading
from typing import Any

from lockgate.provider_bridge.endpoints import Endpoint, WrongGateway, health, lookup, verify
from lockgate.provider_bridge.resources.api_key import ApiKeyResource
from lockgate.provider_bridge.resources.consumer_set import ConsumerSetResource
from lockgate.provider_bridge.resources.entities import (
    ConsumerGroupResource,
    ConsumerResource,
    LlmUpstreamResource,
    RouteResource,
)
from lockgate.provider_bridge.resources.gateway import GatewayResource
from lockgate.provider_bridge.resources.mock_llm import MockLlmResource
from lockgate.sdk import AdminClient, LockgateError, TransportError
from lockgate.sdk._base import SECRET_REF_PATTERN
from lockgate.sdk.secrets import SecretError
from tf import iface
from tf.schema import Attribute, Block, NestedBlock, NestMode, Schema
from tf.types import String
from tf.utils import Diagnostics

REMOTE = NestedBlock(
    "gateway",
    NestMode.Set,
    Block(
        attributes=[
            Attribute("name", String(), required=True, description="The name config resources use in `gateway`."),
            Attribute("admin_url", String(), required=True, description="Its admin API, e.g. https://cp.eu:8001."),
            Attribute(
                "admin_token_ref",
                String(),
                required=True,
                description="A secret reference to its admin token: 'env:NAME' or 'file:PATH' (never the token).",
            ),
        ],
        description="A gateway on another host or region, managed through its admin API (instead of one "
        "registered on this machine under LOCKGATE_HOME).",
    ),
)

HOST, NAMESPACE, TYPE = "lockgate.dev", "lockgate", "lockgate"
SOURCE = f"{HOST}/{NAMESPACE}/{TYPE}"
VERSION = "0.1.0"

RESOURCES: list[type[iface.Resource]] = [
    GatewayResource,
    MockLlmResource,
    LlmUpstreamResource,
    RouteResource,
    ConsumerGroupResource,
    ConsumerResource,
    ApiKeyResource,
    ConsumerSetResource,
]


class LockgateProvider(iface.Provider):
    """Terraform runs a provider process per walk; it keeps one admin client per gateway process for all calls."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str], AdminClient] = {}
        self._lock = threading.Lock()
        self._remote: dict[str, Endpoint] = {}  # from the provider block's `gateway` blocks

    def admin(self, gateway: str) -> AdminClient | None:
        """The gateway's admin client, or None if no gateway of that name is configured or registered.

        Before the first call to a gateway process, its /health must name the registered instance (a remote one:
        the gateway's name), one request per gateway per provider process: raises WrongGateway if another process
        answers, TransportError if none.
        """
        remote = self._remote.get(gateway)
        if remote is not None:
            return self._remote_client(gateway, remote)
        endpoint = lookup(gateway)
        if endpoint is None:
            return None
        key = (gateway, endpoint.admin_url, endpoint.instance_id)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                verify(gateway, endpoint)
                client = self._clients[key] = endpoint.client()
            return client

    def get_model_prefix(self) -> str:
        return f"{TYPE}_"

    def full_name(self) -> str:
        return SOURCE

    def _remote_client(self, gateway: str, endpoint: Endpoint) -> AdminClient:
        key = (gateway, endpoint.admin_url, "remote")
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                answer = health(endpoint.admin_url + "/health")
                if answer is None:
                    raise TransportError(f"{endpoint.admin_url}/health does not answer: is gateway '{gateway}' up?")
                if answer.name != gateway:
                    raise WrongGateway(
                        f"{endpoint.admin_url} is gateway '{answer.name or '(no name)'}', not '{gateway}': fix the "
                        f"provider's gateway block (admin_url), or start that gateway with --name {gateway}"
                    )
                try:
                    client = self._clients[key] = endpoint.client()
                except SecretError as exc:
                    raise LockgateError(f"gateway '{gateway}' (provider block): admin_token_ref: {exc}") from None
            return client

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(description="Manage lockgate AI gateways and their configuration.", block_types=[REMOTE])

    def validate_config(self, diags: Diagnostics, config: Any) -> None:
        for block in (config or {}).get("gateway") or []:
            ref, url = block.get("admin_token_ref"), block.get("admin_url")
            if isinstance(ref, str) and not SECRET_REF_PATTERN.match(ref):
                diags.add_error(
                    "Invalid admin_token_ref",
                    f"gateway '{block.get('name')}': admin_token_ref must be a secret reference such as "
                    "'env:EU_ADMIN_TOKEN' or 'file:/run/secrets/admin-token'; the value is not shown in case it is "
                    "the token itself",
                )
            if isinstance(url, str) and not url.startswith(("http://", "https://")):
                diags.add_error(
                    "Invalid admin_url",
                    f"gateway '{block.get('name')}': admin_url must start with http:// or https://, got {url!r}",
                )

    def configure_provider(self, diags: Diagnostics, config: Any) -> None:
        self.validate_config(diags, config)
        for block in (config or {}).get("gateway") or []:
            name = block["name"]
            self._remote[name] = Endpoint(block["admin_url"].rstrip("/"), "", block["admin_token_ref"], 0)

    def get_data_sources(self) -> list[type[iface.DataSource]]:
        return []

    def get_resources(self) -> list[type[iface.Resource]]:
        return RESOURCES
