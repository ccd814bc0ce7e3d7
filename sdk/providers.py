"""The LLM providers an upstream can be, and each one's own settings (a block named after it, on `LlmUpstream`).

    provider    wire format                        default base_url                      settings block
    openai      OpenAI chat completions            https://api.openai.com/v1             -
    azure       OpenAI's, on deployment URLs       - (the resource's endpoint)           azure
    anthropic   Anthropic Messages                 https://api.anthropic.com/v1          anthropic
    gemini      Gemini generateContent             https://generativelanguage.googleapis.com/v1beta  -
    cohere      Cohere v2 chat                     https://api.cohere.com/v2             -
    bedrock     AWS Bedrock Converse               https://bedrock-runtime.REGION.amazonaws.com  bedrock

`openai` is every OpenAI-compatible server too: vLLM, Ollama, Mistral's API, the mock.
"""

from __future__ import annotations

from typing import Literal

from lockgate.sdk._base import SecretRef, StrictModel
from pydantic import ConfigDict, Field, JsonValue, model_validator

Provider = Literal["openai", "azure", "anthropic", "gemini", "cohere", "bedrock"]
PROVIDERS: tuple[Provider, ...] = ("openai", "azure", "anthropic", "gemini", "cohere", "bedrock")
SETTINGS_BLOCKS: tuple[Provider, ...] = ("azure", "anthropic", "bedrock")  # the providers with a block of their own
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


def _given(field: str) -> JsonValue:
    return {"properties": {field: {"type": "string"}}, "required": [field]}


class BedrockSettings(StrictModel):
    """AWS Bedrock's Converse API in `region`. Requests are signed with SigV4 from `access_key_id` and
    `secret_access_key` (secret references, resolved by the runtime), or carry a Bedrock API key given as the
    upstream's `auth` (a bearer token)."""

    # _key_pair checks these rules (naming the fields); the JSON Schema says them too
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {"if": _given("access_key_id"), "then": _given("secret_access_key")},
                {"if": _given("secret_access_key"), "then": _given("access_key_id")},
                {"if": _given("session_token"), "then": _given("access_key_id")},
            ]
        }
    )

    region: str = Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$", description="The AWS region, e.g. 'us-east-1'.", examples=["us-east-1"]
    )
    access_key_id: SecretRef | None = Field(default=None, description="e.g. 'env:AWS_ACCESS_KEY_ID'.")
    secret_access_key: SecretRef | None = Field(default=None, description="e.g. 'env:AWS_SECRET_ACCESS_KEY'.")
    session_token: SecretRef | None = Field(
        default=None, description="For temporary credentials, e.g. 'env:AWS_SESSION_TOKEN'."
    )

    @model_validator(mode="after")
    def _key_pair(self) -> BedrockSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("bedrock: access_key_id and secret_access_key go together; give both or neither")
        if self.session_token is not None and self.access_key_id is None:
            raise ValueError("bedrock: session_token needs access_key_id and secret_access_key")
        return self
