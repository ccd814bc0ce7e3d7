"""LlmUpstream: an LLM provider endpoint of a gateway."""

from __future__ import annotations

from typing import Any

from lockgate.constructs._resource import GatewayEntity
from lockgate.constructs.runtime import GatewayRef, MockLlm
from lockgate.sdk import AnthropicSettings, AzureSettings
from lockgate.sdk import LlmUpstream as LlmUpstreamModel
from lockgate.sdk.providers import DEFAULT_BASE_URLS
from pydantic import BaseModel

from constructs import Construct

OPENAI_BASE_URL = DEFAULT_BASE_URLS["openai"]


class LlmUpstream(GatewayEntity):
    """An LLM upstream of one provider. Prefer the factories: `LlmUpstream.openai(...)`, `.azure(...)`,
    `.anthropic(...)`, `.mock(...)`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        type: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        auth: str | None = None,
        name: str | None = None,
        azure: AzureSettings | dict[str, Any] | None = None,
        anthropic: AnthropicSettings | dict[str, Any] | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        max_connections: int | None = None,
        pool_timeout_s: float | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "type": type,
            "base_url": base_url,
            "model": model,
            "auth": auth,
            "azure": _block(azure),
            "anthropic": _block(anthropic),
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
        model: str | None = None,
        api_key: str = "env:OPENAI_API_KEY",
        base_url: str = OPENAI_BASE_URL,
    ) -> LlmUpstream:
        """OpenAI (or a compatible API), authenticated by a secret reference such as 'env:OPENAI_API_KEY'; `model`,
        when given, serves every request (else the request's model, or a route's alias's)."""
        return cls(scope, id, gateway=gateway, base_url=base_url, model=model, auth=api_key)

    @classmethod
    def azure(
        cls,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        endpoint: str,
        deployment: str | None = None,
        api_version: str | None = None,
        api_key: str = "env:AZURE_OPENAI_API_KEY",
        model: str | None = None,
    ) -> LlmUpstream:
        """Azure OpenAI: `endpoint` is the resource's ('https://RESOURCE.openai.azure.com'); `deployment`, when
        given, serves every request (else the request's model names the deployment)."""
        azure = {"deployment": deployment, "api_version": api_version}  # validated with the rest, naming the field
        return cls(scope, id, gateway=gateway, type="azure", base_url=endpoint, azure=azure, auth=api_key, model=model)

    @classmethod
    def anthropic(
        cls,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        model: str | None = None,
        api_key: str = "env:ANTHROPIC_API_KEY",
        base_url: str | None = None,
        max_tokens: int | None = None,
    ) -> LlmUpstream:
        """Anthropic's Messages API; `max_tokens` is sent when a client gives none (Anthropic requires it)."""
        return cls(
            scope,
            id,
            gateway=gateway,
            type="anthropic",
            base_url=base_url,
            model=model,
            auth=api_key,
            anthropic={"max_tokens": max_tokens} if max_tokens is not None else None,
        )

    @classmethod
    def mock(
        cls, scope: Construct, id: str, *, gateway: GatewayRef, mock: MockLlm, model: str | None = "mock-1"
    ) -> LlmUpstream:
        """The local mock LLM, as an upstream of the provider whose format it speaks (`model=None`: the request's)."""
        type = None if mock.type == "openai" else mock.type
        return cls(scope, id, gateway=gateway, type=type, base_url=mock.base_url, model=model)


def _block(settings: BaseModel | dict[str, Any] | None) -> dict[str, Any] | None:
    """A settings block as props: what was set (the provider fills the defaults in), unset keys left out."""
    if isinstance(settings, BaseModel):
        return settings.model_dump(exclude_unset=True)
    return None if settings is None else {k: v for k, v in settings.items() if v is not None}
