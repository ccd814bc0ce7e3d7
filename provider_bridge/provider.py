"""The `lockgate` Terraform provider: its address, schema and resources."""

from __future__ import annotations

import threading
from typing import Any

from lockgate.provider_bridge.endpoints import lookup, verify
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
from lockgate.sdk import AdminClient
from tf import iface
from tf.schema import Schema
from tf.utils import Diagnostics

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

    def admin(self, gateway: str) -> AdminClient | None:
        """The gateway's admin client, or None if no gateway of that name is registered.

        Before the first call to a gateway process, its /health must name the registered instance (one request per
        gateway per provider process): raises WrongGateway if another process answers, TransportError if none.
        """
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

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(description="Manage lockgate AI gateways and their configuration.")

    def validate_config(self, diags: Diagnostics, config: Any) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: Any) -> None:
        pass

    def get_data_sources(self) -> list[type[iface.DataSource]]:
        return []

    def get_resources(self) -> list[type[iface.Resource]]:
        return RESOURCES
