"""LlmUpstream: an LLM provider endpoint of a gateway."""

from __future__ import annotations

from lockgate.constructs._resource import GatewayEntity
from lockgate.constructs.runtime import GatewayRef, MockLlm
from lockgate.sdk import LlmUpstream as LlmUpstreamModel

from constructs import Construct

OPENAI_BASE_URL = "https://api.openai.com/v1"


class LlmUpstream(GatewayEntity):
    """An OpenAI-compatible upstream. Prefer the factories: `LlmUpstream.openai(...)`, `LlmUpstream.mock(...)`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        base_url: str,
        model: str | None = None,
        auth: str | None = None,
        name: str | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        max_connections: int | None = None,
        pool_timeout_s: float | None = None,
    ) -> None:
        props = {
            "base_url": base_url,
            "model": model,
            "auth": auth,
            "connect_timeout_s": connect_timeout_s,
            "read_timeout_s": read_timeout_s,
            "max_connections": max_connections,
            "pool_timeout_s": pool_timeout_s,
        }
        super().__init__(
            scope, id, gateway=gateway, name=name, type_name="llm_upstream", model=LlmUpstreamModel, props=props
        )

    @classmethod
    def openai(
        cls,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        model: str,
        api_key: str = "env:OPENAI_API_KEY",
        base_url: str = OPENAI_BASE_URL,
    ) -> LlmUpstream:
        """OpenAI (or a compatible API), authenticated by a secret reference such as 'env:OPENAI_API_KEY'."""
        return cls(scope, id, gateway=gateway, base_url=base_url, model=model, auth=api_key)

    @classmethod
    def mock(
        cls, scope: Construct, id: str, *, gateway: GatewayRef, mock: MockLlm, model: str = "mock-1"
    ) -> LlmUpstream:
        """The local mock LLM."""
        return cls(scope, id, gateway=gateway, base_url=mock.base_url, model=model)
