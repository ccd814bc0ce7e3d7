"""The client APIs the gateway serves (base.py: the seam), by the operation below a route's prefix."""

from __future__ import annotations

from lockgate.gateway_runtime.data.clients.anthropic_messages import AnthropicMessages
from lockgate.gateway_runtime.data.clients.base import ClientApi
from lockgate.gateway_runtime.data.clients.openai_chat import OpenAiChat
from lockgate.gateway_runtime.data.clients.openai_embeddings import OpenAiEmbeddings

OPENAI: ClientApi = OpenAiChat()
CLIENT_APIS: dict[str | None, ClientApi] = {
    "chat": OPENAI,
    "messages": AnthropicMessages(),
    "embeddings": OpenAiEmbeddings(),
}

__all__ = ["CLIENT_APIS", "OPENAI", "ClientApi"]
