"""LlmUpstream: an LLM provider endpoint of a gateway."""

from __future__ import annotations

from lockgate.constructs._resource import entity_name, lockgate_resource
from lockgate.constructs.runtime import Gateway, MockLlm
from lockgate.sdk import LlmUpstream as LlmUpstreamModel

from constructs import Construct

OPENAI_BASE_URL = "https://api.openai.com/v1"


class LlmUpstream(Construct):
    """An OpenAI-compatible upstream. Prefer the factories: `LlmUpstream.openai(...)`, `LlmUpstream.mock(...)`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: Gateway,
        base_url: str,
        model: str | None = None,
        auth: str | None = None,
        name: str | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.gateway = gateway
        self.name = entity_name(self, name)
        self.resource = lockgate_resource(
            self,
            "llm_upstream",
            LlmUpstreamModel,
            {
                "name": self.name,
                "base_url": base_url,
                "model": model,
                "auth": auth,
                "connect_timeout_s": connect_timeout_s,
                "read_timeout_s": read_timeout_s,
            },
            {"gateway": gateway.gateway_id},
        )

    @property
    def ref(self) -> str:
        """The name, as a reference that makes dependents wait for this upstream."""
        return self.resource.get_string_attribute("name")

    @classmethod
    def openai(
        cls,
        scope: Construct,
        id: str,
        *,
        gateway: Gateway,
        model: str,
        api_key: str = "env:OPENAI_API_KEY",
        base_url: str = OPENAI_BASE_URL,
    ) -> LlmUpstream:
        """OpenAI (or a compatible API), authenticated by a secret reference such as 'env:OPENAI_API_KEY'."""
        return cls(scope, id, gateway=gateway, base_url=base_url, model=model, auth=api_key)

    @classmethod
    def mock(cls, scope: Construct, id: str, *, gateway: Gateway, mock: MockLlm, model: str = "mock-1") -> LlmUpstream:
        """The local mock LLM."""
        return cls(scope, id, gateway=gateway, base_url=mock.base_url, model=model)
