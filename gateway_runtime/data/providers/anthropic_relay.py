"""Anthropic's Messages API relayed to an Anthropic upstream for a client that speaks it too: the request, the
answer, the stream and the errors pass unchanged; the usage is read on the way (see anthropic.py for the pages).

On a stream, `message_start` carries the input counts and each `message_delta` the cumulative output (newer ones
the input too): only events that mention usage are parsed.
"""

from __future__ import annotations

from typing import Any

import orjson
from lockgate.gateway_runtime.data.providers.anthropic import AnthropicProvider, anthropic_usage
from lockgate.gateway_runtime.data.providers.base import Completion, UpstreamCall, UpstreamError
from lockgate.gateway_runtime.data.sse import EventSplitter, data_of
from lockgate.gateway_runtime.data.usage import Tokens


class MessagesTee:
    __slots__ = ("_events", "_upstream", "_usage", "done", "status", "tokens")

    def __init__(self, upstream: str) -> None:
        self._events, self._upstream = EventSplitter(), upstream
        self._usage: dict[str, Any] = {}
        self.tokens: Tokens | None = None
        self.done = False
        self.status = 200

    def feed(self, chunk: bytes) -> bytes:
        events, overflow = self._events.feed(chunk)
        for event in events:
            self._read(event)
        return b"".join(events) + overflow

    def close(self) -> bytes:
        return b""

    def _read(self, event: bytes) -> None:
        if b"message_stop" in event:
            self.done = True
        elif b"event: error" in event:
            self.done, self.status = True, 502
        elif b'"usage"' in event:
            payload = data_of(event)
            if isinstance(payload, dict):
                message = payload.get("message")
                usage = message.get("usage") if isinstance(message, dict) else payload.get("usage")
                if isinstance(usage, dict):
                    self._usage.update((k, v) for k, v in usage.items() if v is not None)
                    self.tokens = anthropic_usage(self._usage, self._upstream)


class MessagesRelay:
    relay = True
    stream_type = "text/event-stream"

    def __init__(self, provider: AnthropicProvider) -> None:
        self._provider = provider

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self._provider.url, self._provider.headers, orjson.dumps(body))

    def completion(self, body: bytes, model: str) -> Completion | None:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(message, dict) or message.get("type") != "message":
            return None
        return Completion(body, anthropic_usage(message.get("usage"), self._provider.name))

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> MessagesTee:
        return MessagesTee(self._provider.name)

    def models_call(self) -> UpstreamCall:
        return self._provider.models_call()

    def models(self, body: bytes) -> bytes | None:
        return self._provider.models(body)

    def native(self, api: str) -> MessagesRelay | None:
        return self if api == "anthropic" else None

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        """Anthropic's own errors pass through, as the client's SDK expects them; the rest as the adapter maps it."""
        mapped = self._provider.error(status, content_type, body)
        if mapped.code in ("upstream_auth", "upstream_error"):
            return mapped
        return UpstreamError(status, mapped.message, mapped.code, body)
