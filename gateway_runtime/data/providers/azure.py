"""Azure OpenAI: OpenAI's wire format on deployment URLs, relayed like OpenAI's.

Wire format: https://learn.microsoft.com/en-us/azure/ai-services/openai/reference (POST
`{endpoint}/openai/deployments/{deployment-id}/chat/completions?api-version=...` and `.../embeddings`, the key in
an `api-key` header, bodies, streams, usage and errors as OpenAI's; `GET {endpoint}/openai/models?api-version=...`
lists the models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
from lockgate.gateway_runtime.data.providers.base import UpstreamCall
from lockgate.gateway_runtime.data.providers.openai import OpenAiProvider
from lockgate.sdk import AzureSettings, LlmUpstream


class AzureProvider(OpenAiProvider):
    def __init__(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> None:
        auth = secrets.get("auth")
        super().__init__(spec, {})
        settings = spec.azure or AzureSettings()
        if auth:
            self.headers["api-key"] = auth
        self._base, self._query = f"{spec.url}/openai", f"api-version={quote(settings.api_version)}"
        self._deployment = settings.deployment
        self._models_url = f"{self._base}/models?{self._query}"

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self._deployment_url(body, "chat/completions"), self.headers, orjson.dumps(body))

    def embeddings_url(self, body: dict[str, Any]) -> str:
        return self._deployment_url(body, "embeddings")

    def _deployment_url(self, body: dict[str, Any], operation: str) -> str:
        deployment = quote(self._deployment or body["model"], safe="")  # the client's model names the deployment
        return f"{self._base}/deployments/{deployment}/{operation}?{self._query}"
