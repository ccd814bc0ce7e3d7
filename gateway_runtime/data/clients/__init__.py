"""The client APIs the gateway serves (base.py: the seam), by the operation below a route's prefix."""

from __future__ import annotations

from lockgate.gateway_runtime.data.clients.anthropic_messages import AnthropicMessages
from lockgate.gateway_runtime.data.clients.base import ClientApi
from lockgate.gateway_runtime.data.clients.openai_chat import OpenAiChat

OPENAI: ClientApi = OpenAiChat()
CLIENT_APIS: dict[str | None, ClientApi] = {"chat": OPENAI, "messages": AnthropicMessages()}

__all__ = ["CLIENT_APIS", "OPENAI", "ClientApi"]
