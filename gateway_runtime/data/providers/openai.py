"""OpenAI chat completions, and every server that speaks them (vLLM, Ollama, Mistral's API, the mock): relayed.

Wire format: https://platform.openai.com/docs/api-reference/chat (the request, `chat.completion`, the
`chat.completion.chunk` stream ending in `data: [DONE]`, `stream_options.include_usage`, and `usage` with
`prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`);
errors: https://platform.openai.com/docs/guides/error-codes (`{"error": {"message", "type", "param", "code"}}`).
Azure OpenAI is the same format on other URLs (see azure.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from lockgate.gateway_runtime.data.providers.base import (
    Completion,
    Provider,
    UpstreamCall,
    UpstreamError,
    credentials_rejected,
    unreadable_error,
)
from lockgate.gateway_runtime.data.sse import EventSplitter, data_of
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens, count, usage_object
from lockgate.sdk import LlmUpstream


def openai_usage(raw: object, upstream: str) -> Tokens:
    """The counts in an OpenAI `usage` object; whatever cannot be read is logged and counted as 0."""
    usage = usage_object(raw, upstream)
    if usage is None:
        return NO_TOKENS
    prompt = count(usage, "prompt_tokens", upstream)
    completion = count(usage, "completion_tokens", upstream)
    total = count(usage, "total_tokens", upstream) if usage.get("total_tokens") is not None else prompt + completion
    cached = count(usage.get("prompt_tokens_details"), "cached_tokens", upstream)
    reasoning = count(usage.get("completion_tokens_details"), "reasoning_tokens", upstream)
    return Tokens(prompt, completion, total, cached, reasoning)


class OpenAiTee:
    """Relays an OpenAI stream's events unchanged, reading the usage on the way (only an event that mentions usage is
    parsed). The usage-only chunk the gateway asked for on the client's behalf (`hide_usage`) is dropped, so clients
    see exactly the stream they asked for."""

    __slots__ = ("_events", "_hide_usage", "_upstream", "done", "status", "tokens")

    def __init__(self, upstream: str, hide_usage: bool) -> None:
        self._events = EventSplitter()
        self._upstream, self._hide_usage = upstream, hide_usage
        self.tokens: Tokens | None = None
        self.done = False
        self.status = 200

    def feed(self, chunk: bytes) -> bytes:
        events, overflow = self._events.feed(chunk)
        out = b"".join(event for event in events if self._relayed(event))
        return out + overflow if overflow else out

    def close(self) -> bytes:
        return b""

    def _relayed(self, event: bytes) -> bool:
        if b"[DONE]" in event and event.strip().endswith(b"[DONE]"):
            self.done = True
            return True
        if b'"usage"' not in event:
            return True
        payload = data_of(event)
        if not isinstance(payload, dict):
            return True
        usage = payload.get("usage")
        if usage is not None:
            self.tokens = openai_usage(usage, self._upstream)
            if self._hide_usage and not payload.get("choices"):
                return False
        return True


class EmbeddingsRelay:
    """OpenAI's embeddings API relayed: the answer's bytes unchanged, its `usage.prompt_tokens` read."""

    relay = True
    stream_type = "application/json"  # never streamed

    def __init__(self, provider: OpenAiProvider) -> None:
        self._provider = provider

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self._provider.embeddings_url(body), self._provider.headers, orjson.dumps(body))

    def completion(self, body: bytes, model: str) -> Completion | None:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
            return None
        return Completion(body, openai_usage(parsed.get("usage"), self._provider.name))

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> OpenAiTee:
        return OpenAiTee(self._provider.name, hide_usage)

    def native(self, api: str) -> Provider | None:
        return self._provider.native(api)

    def models_call(self) -> UpstreamCall:
        return self._provider.models_call()

    def models(self, body: bytes) -> bytes | None:
        return body

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        return self._provider.error(status, content_type, body)


class OpenAiProvider:
    relay = True
    stream_type = "text/event-stream"

    def __init__(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> None:
        auth = secrets.get("auth")
        self.name = spec.name
        self.headers = {"Content-Type": "application/json"}
        if auth:
            self.headers["Authorization"] = f"Bearer {auth}"
        self._chat_url = f"{spec.url}/chat/completions"
        self._models_url = f"{spec.url}/models"
        self._embeddings_url = f"{spec.url}/embeddings"
        self._embeddings = EmbeddingsRelay(self)

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self._chat_url, self.headers, orjson.dumps(body))

    def completion(self, body: bytes, model: str) -> Completion | None:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(parsed, dict):
            return None
        return Completion(body, openai_usage(parsed.get("usage"), self.name))

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> OpenAiTee:
        return OpenAiTee(self.name, hide_usage)

    def native(self, api: str) -> Provider | None:
        if api == "openai":
            return self
        return self._embeddings if api == "openai-embeddings" else None

    def embeddings_url(self, body: dict[str, Any]) -> str:
        return self._embeddings_url

    def models_call(self) -> UpstreamCall:
        return UpstreamCall(self._models_url, self.headers)

    def models(self, body: bytes) -> bytes | None:
        return body

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        """An OpenAI-style JSON error passes through with its status; a rejected gateway credential or anything
        else becomes a 502 that says what the upstream did."""
        if status in (401, 403):
            return credentials_rejected(self.name, status)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str) and 400 <= status < 600:
            return UpstreamError(status, error["message"], str(error.get("code") or "upstream_error"), body)
        return unreadable_error(self.name, status, content_type, body, "an OpenAI-style JSON error")
