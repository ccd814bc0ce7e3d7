"""The LLM providers an upstream can be, and each one's own settings (a block named after it, on `LlmUpstream`).

    provider    wire format                        default base_url                      settings block
    openai      OpenAI chat completions            https://api.openai.com/v1             -
    azure       OpenAI's, on deployment URLs       - (the resource's endpoint)           azure
    anthropic   Anthropic Messages                 https://api.anthropic.com/v1          anthropic
    gemini      Gemini generateContent             https://generativelanguage.googleapis.com/v1beta  -
    cohere      Cohere v2 chat                     https://api.cohere.com/v2             -

`openai` is every OpenAI-compatible server too: vLLM, Ollama, Mistral's API, the mock.
"""

from __future__ import annotations

from typing import Literal

from lockgate.sdk._base import StrictModel
from pydantic import Field

Provider = Literal["openai", "azure", "anthropic", "gemini", "cohere"]
PROVIDERS: tuple[Provider, ...] = ("openai", "azure", "anthropic", "gemini", "cohere")
DEFAULT_BASE_URLS: dict[Provider, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "cohere": "https://api.cohere.com/v2",
}


class AzureSettings(StrictModel):
    """Azure OpenAI: `base_url` is the resource's endpoint ('https://RESOURCE.openai.azure.com'); requests go to
    `/openai/deployments/DEPLOYMENT/chat/completions?api-version=...` with the key in an `api-key` header."""

    api_version: str = Field(
        default="2024-10-21",
        pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$",
        description="The `api-version` query parameter, e.g. '2024-10-21'.",
    )
    deployment: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="The deployment every request goes to; when omitted, the request's model names the deployment.",
    )


class AnthropicSettings(StrictModel):
    """Anthropic's Messages API: the key goes in `x-api-key`, the API version in `anthropic-version`."""

    version: str = Field(default="2023-06-01", min_length=1, description="The `anthropic-version` header.")
    max_tokens: int = Field(
        default=4096,
        ge=1,
        le=1_000_000,
        description="`max_tokens` sent when the client gives none (Anthropic requires it; OpenAI's clients may omit "
        "it).",
    )
