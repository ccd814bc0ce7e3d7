"""Anthropic's Messages API, translated to and from OpenAI's chat completions.

Wire format: https://docs.anthropic.com/en/api/messages (POST `/v1/messages`, `x-api-key` and `anthropic-version`
headers; `system` apart from `messages`; content blocks `text`, `image` with a base64 or URL `source`, `tool_use`,
`tool_result`; `tools` with `input_schema`; `tool_choice` auto/any/tool/none; `stop_reason`; `usage` with
`input_tokens`, `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`), its stream
https://docs.anthropic.com/en/docs/build-with-claude/streaming (`message_start`, `content_block_start`,
`content_block_delta` with `text_delta` or `input_json_delta`, `content_block_stop`, `message_delta` with the
stop reason and the cumulative `output_tokens`, `message_stop`, `ping`, `error`), its errors
https://docs.anthropic.com/en/api/errors (`{"type": "error", "error": {"type", "message"}}`; 529 overloaded) and
its model list https://docs.anthropic.com/en/api/models-list.

OpenAI's `prompt_tokens` counts every input token, cached or not: here it is `input_tokens` plus both cache counts,
and `cached` is `cache_read_input_tokens`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from lockgate.gateway_runtime.data.providers.base import (
    Completion,
    Provider,
    TranslationError,
    UpstreamCall,
    UpstreamError,
    credentials_rejected,
    unreadable_error,
)
from lockgate.gateway_runtime.data.providers.translate import (
    StreamTranslator,
    calls,
    chat_completion,
    functions,
    json_of,
    max_tokens,
    model_list,
    one_choice,
    parts,
    stop_sequences,
    tool_call,
)
from lockgate.gateway_runtime.data.sse import data_of
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens, count, usage_object
from lockgate.sdk import AnthropicSettings, LlmUpstream

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# status -> (status for the client, code): the client's own mistakes keep theirs; the provider's trouble is a 5xx
_STATUSES = {400: 400, 404: 404, 413: 413, 429: 429, 500: 502, 502: 502, 503: 503, 529: 503}


def anthropic_usage(raw: object, upstream: str) -> Tokens:
    usage = usage_object(raw, upstream)
    if usage is None:
        return NO_TOKENS
    read = count(usage, "cache_read_input_tokens", upstream)
    prompt = count(usage, "input_tokens", upstream) + read + count(usage, "cache_creation_input_tokens", upstream)
    completion = count(usage, "output_tokens", upstream)
    return Tokens(prompt, completion, prompt + completion, read, 0)


def messages_request(body: dict[str, Any], settings: AnthropicSettings) -> dict[str, Any]:
    """An OpenAI chat request as a Messages request; TranslationError names what cannot be translated."""
    one_choice(body)
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise TranslationError(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_blocks(message.get("content"), where))
        elif role == "user":
            messages.append({"role": "user", "content": _blocks(message.get("content"), where)})
        elif role == "assistant":
            uses = [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in calls(message, where)
            ]
            messages.append({"role": "assistant", "content": _blocks(message.get("content"), where) + uses})
        elif role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": str(message.get("tool_call_id", ""))}
            messages.append(
                {"role": "user", "content": [{**result, "content": _blocks(message.get("content"), where)}]}
            )
        else:
            raise TranslationError(f"'{where}.role' must be system, developer, user, assistant or tool.", where)
    request: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": max_tokens(body) or settings.max_tokens,
    }
    if system:
        request["system"] = system
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    stops = stop_sequences(body)
    if stops:
        request["stop_sequences"] = stops
    if body.get("stream"):
        request["stream"] = True
    if isinstance(body.get("user"), str):
        request["metadata"] = {"user_id": body["user"]}
    tools = functions(body)
    if tools:
        request["tools"] = [
            {**{k: v for k, v in t.items() if k != "parameters"}, "input_schema": t["parameters"]} for t in tools
        ]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    return request


def _blocks(content: object, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts(content, where):
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
        elif part.data is not None:
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
            blocks.append({"type": "image", "source": source})
        else:
            blocks.append({"type": "image", "source": {"type": "url", "url": part.url}})
    return blocks


def _tool_choice(choice: object, parallel: object) -> dict[str, Any] | None:
    if choice == "none":
        return {"type": "none"}
    out: dict[str, Any]
    if choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    elif parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def _chat_completion(message: dict[str, Any], tokens: Tokens) -> dict[str, Any]:
    """A Messages response as an OpenAI `chat.completion`."""
    texts: list[str] = []
    uses = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            uses.append(tool_call(block.get("id"), block.get("name"), block.get("input")))
    finish = _finish(message.get("stop_reason"))
    return chat_completion(message.get("id"), message.get("model"), texts, uses, finish, tokens)


def _finish(reason: object) -> str | None:
    return STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else None


class MessagesStream(StreamTranslator):
    """Translates a Messages stream into OpenAI chunks as its events arrive (one event in, at most one chunk out)."""

    def __init__(self, upstream: str, model: str, include_usage: bool) -> None:
        super().__init__(upstream, model, include_usage)
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index

    def _translate(self, event: bytes) -> bytes:
        payload = data_of(event)
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "message_start":
            return self._start(payload.get("message"))
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "message_delta":
            self._merge_usage(payload.get("usage"))
            delta = payload.get("delta")
            reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            return self._emit({}, _finish(reason) or "stop")
        if kind == "message_stop":
            return self._end()
        if kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
            status = 503 if error.get("type") == "overloaded_error" else 502
            message = f"Upstream '{self._upstream}' failed mid-stream: {str(error.get('message', ''))[:500]}"
            return self._fail(status, message, str(error.get("type") or "upstream_error"))
        return b""  # ping, content_block_stop, and event types added later

    def _start(self, message: object) -> bytes:
        if isinstance(message, dict):
            self._chunks.base["id"] = message.get("id", "")
            self._chunks.base["model"] = message.get("model", self._chunks.base["model"])
            self._merge_usage(message.get("usage"))
        return self._emit({"role": "assistant", "content": ""}, None)

    def _block_start(self, payload: dict[str, Any]) -> bytes:
        block = payload.get("content_block")
        if not isinstance(block, dict) or block.get("type") != "tool_use":
            return b""
        position = self._tools[payload.get("index", 0)] = len(self._tools)
        function = {"name": block.get("name"), "arguments": ""}
        call = {"index": position, "id": block.get("id"), "type": "function", "function": function}
        return self._emit({"tool_calls": [call]}, None)

    def _delta(self, payload: dict[str, Any]) -> bytes:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return b""
        if delta.get("type") == "text_delta":
            return self._emit({"content": delta.get("text", "")}, None)
        if delta.get("type") == "input_json_delta":
            position = self._tools.get(payload.get("index", 0), 0)
            call = {"index": position, "function": {"arguments": delta.get("partial_json", "")}}
            return self._emit({"tool_calls": [call]}, None)
        return b""  # thinking and signature deltas: OpenAI's format has no place for them

    def _merge_usage(self, usage: object) -> None:
        if isinstance(usage, dict):  # message_delta's counts are cumulative: the last one wins, field by field
            self._usage.update((k, v) for k, v in usage.items() if v is not None)
            self.tokens = anthropic_usage(self._usage, self._upstream)

    def _emit(self, delta: dict[str, Any], finish: str | None) -> bytes:
        return self._chunks.delta(delta, finish)


class AnthropicProvider:
    relay = False
    stream_type = "text/event-stream"

    def __init__(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> None:
        auth = secrets.get("auth")
        self.name = spec.name
        self._settings = spec.anthropic or AnthropicSettings()
        self.headers = {"Content-Type": "application/json", "anthropic-version": self._settings.version}
        if auth:
            self.headers["x-api-key"] = auth
        self.url = f"{spec.url}/messages"
        self._relay: Provider | None = None
        self._models_url = f"{spec.url}/models?limit=1000"

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self.url, self.headers, orjson.dumps(messages_request(body, self._settings)))

    def completion(self, body: bytes, model: str) -> Completion | None:
        message = json_of(body)
        if not isinstance(message, dict) or message.get("type") != "message":
            return None
        tokens = anthropic_usage(message.get("usage"), self.name)
        return Completion(orjson.dumps(_chat_completion(message, tokens)), tokens)

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> MessagesStream:
        return MessagesStream(self.name, model, include_usage)

    def native(self, api: str) -> Provider | None:
        if api != "anthropic":
            return None
        if self._relay is None:
            from lockgate.gateway_runtime.data.providers.anthropic_relay import MessagesRelay  # it builds on this

            self._relay = MessagesRelay(self)
        return self._relay

    def models_call(self) -> UpstreamCall:
        return UpstreamCall(self._models_url, self.headers)

    def models(self, body: bytes) -> bytes | None:
        return model_list(body, "data", "id", "anthropic")

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        if status in (401, 403):
            return credentials_rejected(self.name, status)
        parsed = json_of(body)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return unreadable_error(self.name, status, content_type, body, "an Anthropic JSON error")
        code = str(error.get("type") or "upstream_error")
        return UpstreamError(_STATUSES.get(status, 502), f"Upstream '{self.name}': {error['message'][:1000]}", code)
