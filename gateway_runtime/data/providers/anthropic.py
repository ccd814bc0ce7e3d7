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

import time
from typing import Any

import orjson
from lockgate.gateway_runtime.data.errors import error_event
from lockgate.gateway_runtime.data.providers.base import (
    Completion,
    TranslationError,
    UpstreamCall,
    UpstreamError,
    credentials_rejected,
    unreadable_error,
)
from lockgate.gateway_runtime.data.sse import DONE_EVENT, EventSplitter, data_event, data_of
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
_COPIED = (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"))


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
    if body.get("n", 1) not in (1, None):
        raise TranslationError("This upstream answers one choice per request: 'n' must be 1.", "n")
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
            messages.append({"role": "assistant", "content": _assistant_blocks(message, where)})
        elif role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": str(message.get("tool_call_id", ""))}
            result["content"] = _blocks(message.get("content"), where)
            messages.append({"role": "user", "content": [result]})
        else:
            raise TranslationError(f"'{where}.role' must be system, developer, user, assistant or tool.", where)
    request: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or settings.max_tokens,
    }
    if system:
        request["system"] = system
    for openai_name, name in _COPIED:
        if body.get(openai_name) is not None:
            request[name] = body[openai_name]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    if body.get("stream"):
        request["stream"] = True
    if isinstance(body.get("user"), str):
        request["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if tools:
        request["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    return request


def _blocks(content: object, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"'{where}.content' must be a string or an array of parts.", f"{where}.content")
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{where}.content[{index}]"))
        else:
            raise TranslationError(
                f"'{where}.content[{index}]' must be a text or image_url part for this upstream.",
                f"{where}.content[{index}]",
            )
    return blocks


def _image(image: object, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        raise TranslationError(f"'{where}.image_url.url' must be a URL or a data: URL.", f"{where}.image_url")
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding != "base64" or not data:
            raise TranslationError(f"'{where}.image_url.url' must be a base64 data: URL.", f"{where}.image_url")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = _blocks(message.get("content"), where)
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError(f"'{where}.tool_calls[{index}]' must be a function call.", f"{where}.tool_calls")
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except (orjson.JSONDecodeError, TypeError):
            arguments = None
        if not isinstance(arguments, dict):
            raise TranslationError(
                f"'{where}.tool_calls[{index}].function.arguments' must be a JSON object.", f"{where}.tool_calls"
            )
        blocks.append({"type": "tool_use", "id": str(call.get("id", "")), "name": function["name"], "input": arguments})
    return blocks


def _tool(tool: object, where: str) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TranslationError(f"'{where}' must be a function tool with a name.", where)
    out: dict[str, Any] = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object"}}
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    return out


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


def chat_completion(message: dict[str, Any], tokens: Tokens) -> dict[str, Any]:
    """A Messages response as an OpenAI `chat.completion`."""
    text: list[str] = []
    calls = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            text.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input", {})).decode()
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    answer: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        answer["tool_calls"] = calls
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model"),
        "choices": [{"index": 0, "message": answer, "finish_reason": _finish(message.get("stop_reason"))}],
        "usage": openai_usage_of(tokens),
    }


def openai_usage_of(tokens: Tokens) -> dict[str, Any]:
    return {
        "prompt_tokens": tokens.prompt,
        "completion_tokens": tokens.completion,
        "total_tokens": tokens.total,
        "prompt_tokens_details": {"cached_tokens": tokens.cached},
    }


def _finish(reason: object) -> str | None:
    return STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else None


class MessagesStream:
    """Translates a Messages stream into OpenAI chunks as its events arrive (one event in, at most one chunk out)."""

    def __init__(self, upstream: str, model: str, include_usage: bool) -> None:
        self._events = EventSplitter()
        self._upstream, self._include_usage = upstream, include_usage
        self._chunk: dict[str, Any] = {"id": "", "object": "chat.completion.chunk", "created": int(time.time())}
        self._chunk["model"] = model
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self.tokens: Tokens | None = None
        self.done = False
        self.status = 200

    def feed(self, chunk: bytes) -> bytes:
        events, overflow = self._events.feed(chunk)
        out = [self._translate(event) for event in events]
        if overflow and not self.done:
            out.append(
                self._fail(502, f"Upstream '{self._upstream}' sent a stream event over 1 MiB.", "upstream_error")
            )
        return b"".join(out)

    def _translate(self, event: bytes) -> bytes:
        if self.done:
            return b""
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
            return self._stop()
        if kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
            status = 503 if error.get("type") == "overloaded_error" else 502
            message = f"Upstream '{self._upstream}' failed mid-stream: {str(error.get('message', ''))[:500]}"
            return self._fail(status, message, str(error.get("type") or "upstream_error"))
        return b""  # ping, content_block_stop, and event types added later

    def _start(self, message: object) -> bytes:
        if isinstance(message, dict):
            self._chunk["id"] = message.get("id", "")
            self._chunk["model"] = message.get("model", self._chunk["model"])
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

    def _stop(self) -> bytes:
        self.done = True
        out = b""
        if self._include_usage:
            final = {**self._chunk, "choices": [], "usage": openai_usage_of(self.tokens or NO_TOKENS)}
            out = data_event(final)
        return out + DONE_EVENT

    def _emit(self, delta: dict[str, Any], finish: str | None) -> bytes:
        return data_event({**self._chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def _fail(self, status: int, message: str, code: str) -> bytes:
        self.done, self.status = True, status
        return error_event(message, code)


class AnthropicProvider:
    relay = False

    def __init__(self, spec: LlmUpstream, auth: str | None) -> None:
        self.name = spec.name
        self._settings = spec.anthropic or AnthropicSettings()
        self.headers = {"Content-Type": "application/json", "anthropic-version": self._settings.version}
        if auth:
            self.headers["x-api-key"] = auth
        self._url = f"{spec.url}/messages"
        self._models_url = f"{spec.url}/models?limit=1000"

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return UpstreamCall(self._url, self.headers, orjson.dumps(messages_request(body, self._settings)))

    def completion(self, body: bytes) -> Completion | None:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(message, dict) or message.get("type") != "message":
            return None
        tokens = anthropic_usage(message.get("usage"), self.name)
        return Completion(orjson.dumps(chat_completion(message, tokens)), tokens)

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> MessagesStream:
        return MessagesStream(self.name, model, include_usage)

    def models_call(self) -> UpstreamCall:
        return UpstreamCall(self._models_url, self.headers)

    def models(self, body: bytes) -> bytes | None:
        try:
            listing = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            return None
        models = [
            {"id": m["id"], "object": "model", "owned_by": "anthropic"}
            for m in data
            if isinstance(m, dict) and isinstance(m.get("id"), str)
        ]
        return orjson.dumps({"object": "list", "data": models})

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        if status in (401, 403):
            return credentials_rejected(self.name, status)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return unreadable_error(self.name, status, content_type, body, "an Anthropic JSON error")
        code = str(error.get("type") or "upstream_error")
        return UpstreamError(_STATUSES.get(status, 502), f"Upstream '{self.name}': {error['message'][:1000]}", code)
