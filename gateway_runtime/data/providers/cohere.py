"""Cohere's v2 Chat API, translated to and from OpenAI's chat completions.

Wire format: https://docs.cohere.com/reference/chat (POST `{base}/chat`, `Authorization: Bearer`; `messages` with
system/user/assistant/tool roles, text and `image_url` content, assistant `tool_calls` and tool `tool_call_id`
much as OpenAI's; `tools` as OpenAI's functions; `tool_choice` REQUIRED/NONE; `p`, `k`, `stop_sequences`,
`max_tokens`; the answer's `message.content[]`, `message.tool_calls[]`, `finish_reason` COMPLETE, STOP_SEQUENCE,
MAX_TOKENS, TOOL_CALL or ERROR; `usage.billed_units` and `usage.tokens`, `usage.cached_tokens`), its stream
https://docs.cohere.com/reference/chat-stream (`message-start`, `content-delta`, `tool-call-start`,
`tool-call-delta`, `message-end` with the finish reason and the usage) and its errors
https://docs.cohere.com/reference/errors (`{"message": ...}` with the HTTP status). Embeddings:
https://docs.cohere.com/reference/embed (POST `{base}/embed` with `texts`, `input_type` (search_document here),
`embedding_types: ["float"]`, `output_dimension`; the answer's `embeddings.float` and `meta.billed_units`).

Usage is what Cohere bills: `billed_units` (it leaves out the tokens Cohere adds itself), `tokens` where a count
is not billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from lockgate.gateway_runtime.data.providers.base import (
    Completion,
    TranslationError,
    UpstreamCall,
    UpstreamError,
    credentials_rejected,
    unreadable_error,
)
from lockgate.gateway_runtime.data.providers.embeddings import EmbeddingsTranslator, vectors_of
from lockgate.gateway_runtime.data.providers.translate import (
    StreamTranslator,
    chat_completion,
    json_of,
    max_tokens,
    model_list,
    one_choice,
    stop_sequences,
    tool_call,
)
from lockgate.gateway_runtime.data.sse import data_of
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens, count, usage_object
from lockgate.sdk import LlmUpstream

FINISH_REASONS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
_STATUSES = {400: 400, 404: 404, 413: 413, 422: 400, 429: 429, 499: 502, 500: 502, 503: 503, 504: 504}
_COPIED = (
    ("temperature", "temperature"),
    ("top_p", "p"),
    ("seed", "seed"),
    ("frequency_penalty", "frequency_penalty"),
    ("presence_penalty", "presence_penalty"),
)


def cohere_usage(raw: object, upstream: str) -> Tokens:
    usage = usage_object(raw, upstream)
    if usage is None:
        return NO_TOKENS
    billed, tokens = usage.get("billed_units"), usage.get("tokens")
    counted = billed if isinstance(billed, dict) and billed else tokens
    prompt = count(counted, "input_tokens", upstream)
    completion = count(counted, "output_tokens", upstream)
    return Tokens(prompt, completion, prompt + completion, count(usage, "cached_tokens", upstream), 0)


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as a Cohere v2 chat request: the messages are nearly Cohere's already."""
    one_choice(body)
    messages = []
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise TranslationError(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise TranslationError(f"'{where}.role' must be system, developer, user, assistant or tool.", where)
        kept = {k: message[k] for k in ("content", "tool_calls", "tool_call_id") if message.get(k) is not None}
        messages.append({**kept, "role": "system" if role == "developer" else role})
    request: dict[str, Any] = {"model": body["model"], "messages": messages, "stream": bool(body.get("stream"))}
    request.update((name, body[key]) for key, name in _COPIED if body.get(key) is not None)
    if max_tokens(body):
        request["max_tokens"] = max_tokens(body)
    stops = stop_sequences(body)
    if stops:
        request["stop_sequences"] = stops
    if body.get("tools"):
        request["tools"] = body["tools"]
        choice = body.get("tool_choice")
        if choice in ("required", "none"):
            request["tool_choice"] = choice.upper()
    return request


def _finish(reason: object) -> str | None:
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else None


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    blocks = content if isinstance(content, list) else ()
    return [b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)]


class CohereStream(StreamTranslator):
    """Translates a Cohere v2 chat stream into OpenAI chunks as its events arrive."""

    def _translate(self, event: bytes) -> bytes:
        payload = data_of(event)
        if not isinstance(payload, dict):
            return b""
        kind, delta = payload.get("type"), payload.get("delta")
        message = delta.get("message") if isinstance(delta, dict) else None
        message = message if isinstance(message, dict) else {}
        if kind == "content-delta":
            content = message.get("content")
            piece = content.get("text") if isinstance(content, dict) else None
            return self._chunks.delta({"content": piece}) if isinstance(piece, str) else b""
        if kind == "message-start":
            self._chunks.base["id"] = payload.get("id", "")
            return self._chunks.delta({"role": "assistant", "content": ""})
        if kind in ("tool-call-start", "tool-call-delta"):
            call = message.get("tool_calls")
            if not isinstance(call, dict):
                return b""
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            if kind == "tool-call-start":
                entry = {"index": payload.get("index", 0), **tool_call(call.get("id"), function.get("name"), "")}
            else:
                entry = {"index": payload.get("index", 0), "function": {"arguments": function.get("arguments", "")}}
            return self._chunks.delta({"tool_calls": [entry]})
        if kind == "message-end":
            return self._message_end(delta if isinstance(delta, dict) else {})
        return b""  # content-start/-end, tool-plan-delta, tool-call-end, citations

    def _message_end(self, delta: dict[str, Any]) -> bytes:
        self.tokens = cohere_usage(delta.get("usage"), self._upstream)
        reason = delta.get("finish_reason")
        if reason == "ERROR":
            return self._fail(502, f"Upstream '{self._upstream}' ended the answer with an error.", "upstream_error")
        return self._chunks.delta({}, _finish(reason) or "stop") + self._end()


class CohereEmbeddings(EmbeddingsTranslator):
    _provider: CohereProvider

    def call(self, texts: list[str], model: str, dimensions: int | None) -> UpstreamCall:
        body: dict[str, Any] = {"model": model, "texts": texts, "input_type": "search_document"}
        body |= {"embedding_types": ["float"], **({"output_dimension": dimensions} if dimensions else {})}
        return UpstreamCall(self._provider.embed_url, self._provider.headers, orjson.dumps(body))

    def read(self, answer: dict[str, Any]) -> tuple[list[list[float]], Tokens] | None:
        embeddings = answer.get("embeddings")
        vectors = vectors_of(embeddings.get("float") if isinstance(embeddings, dict) else embeddings)
        if vectors is None:
            return None
        return vectors, cohere_usage(answer.get("meta"), self._provider.name)


class CohereProvider:
    relay = False
    stream_type = "text/event-stream"

    def __init__(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> None:
        auth = secrets.get("auth")
        self.name = spec.name
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            self.headers["Authorization"] = f"Bearer {auth}"
        self._url, self._models_url = f"{spec.url}/chat", f"{spec.url.removesuffix('/v2')}/v1/models?page_size=1000"
        self.embed_url = f"{spec.url}/embed"
        self._embeddings = CohereEmbeddings(self)

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self._url, self.headers, orjson.dumps(chat_request(body)))

    def completion(self, body: bytes, model: str) -> Completion | None:
        answer = json_of(body)
        message = answer.get("message") if isinstance(answer, dict) else None
        if not isinstance(message, dict):
            return None
        tokens = cohere_usage(answer.get("usage"), self.name)
        uses = [
            tool_call(c.get("id"), (c.get("function") or {}).get("name"), (c.get("function") or {}).get("arguments"))
            for c in message.get("tool_calls") or ()
            if isinstance(c, dict)
        ]
        finish = _finish(answer.get("finish_reason"))
        reply = chat_completion(answer.get("id"), model, _texts(message.get("content")), uses, finish, tokens)
        return Completion(orjson.dumps(reply), tokens)

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> CohereStream:
        return CohereStream(self.name, model, include_usage)

    def native(self, api: str) -> CohereEmbeddings | None:
        return self._embeddings if api == "openai-embeddings" else None

    def models_call(self) -> UpstreamCall:
        return UpstreamCall(self._models_url, self.headers)

    def models(self, body: bytes) -> bytes | None:
        return model_list(body, "models", "name", "cohere")

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        if status in (401, 403):
            return credentials_rejected(self.name, status)
        parsed = json_of(body)
        message = parsed.get("message") if isinstance(parsed, dict) else None
        if not isinstance(message, str):
            return unreadable_error(self.name, status, content_type, body, "a Cohere JSON error")
        code = "rate_limit_exceeded" if status == 429 else "upstream_error" if status >= 500 else "invalid_request"
        return UpstreamError(_STATUSES.get(status, 502), f"Upstream '{self.name}': {message[:1000]}", code)
