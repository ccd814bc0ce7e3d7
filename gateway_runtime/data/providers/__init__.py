"""LLM provider adapters (base.py: the protocol), one module each; `make_provider` attaches one to an upstream."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lockgate.gateway_runtime.data.providers.anthropic import AnthropicProvider
from lockgate.gateway_runtime.data.providers.azure import AzureProvider
from lockgate.gateway_runtime.data.providers.base import Provider
from lockgate.gateway_runtime.data.providers.cohere import CohereProvider
from lockgate.gateway_runtime.data.providers.gemini import GeminiProvider
from lockgate.gateway_runtime.data.providers.openai import OpenAiProvider
from lockgate.sdk import LlmUpstream
from lockgate.sdk.providers import Provider as ProviderName

__all__ = ["Provider", "make_provider"]


def _bedrock(spec: LlmUpstream, secrets: Mapping[str, str]) -> Provider:
    """Imported when a Bedrock upstream is compiled: botocore costs a worker about 10 MB that others need not pay."""
    from lockgate.gateway_runtime.data.providers.bedrock import BedrockProvider

    return BedrockProvider(spec, secrets)


ADAPTERS: dict[ProviderName, Callable[[LlmUpstream, Mapping[str, str]], Provider]] = {
    "openai": OpenAiProvider,
    "azure": AzureProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "cohere": CohereProvider,
    "bedrock": _bedrock,
}


def make_provider(spec: LlmUpstream, secrets: Mapping[str, str]) -> Provider:
    """The adapter for `spec`, with its resolved credentials (by field: 'auth', 'bedrock.secret_access_key')."""
    return ADAPTERS[spec.type](spec, secrets)
