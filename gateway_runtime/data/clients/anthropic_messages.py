"""Anthropic's Messages API for clients (`POST .../v1/messages`, e.g. the official `anthropic` SDK): relayed to an
Anthropic upstream as it is; translated to the unified format (OpenAI's) for any other.

Wire format: https://docs.anthropic.com/en/api/messages (the request: `model`, `max_tokens`, `system`, `messages`
with text, image, tool_use and tool_result blocks, `tools`, `tool_choice`, `stop_sequences`; the `message`
answer), https://docs.anthropic.com/en/docs/build-with-claude/streaming (the events written here) and
https://docs.anthropic.com/en/api/errors (`{"type": "error", "error": {"type", "message"}}`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from lockgate.gateway_runtime.data.clients.base import EventRewriter, Prepared, Said, TextStream, changed, invalid, said
from lockgate.gateway_runtime.data.providers.base import StreamParser
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.sse import data_of
from lockgate.gateway_runtime.data.upstream import Upstream
from lockgate.gateway_runtime.data.usage import Tokens

if TYPE_CHECKING:
    from lockgate.gateway_runtime.data.policies.base import TextHold

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
ERROR_TYPES |= {404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error"}


def error_body(status: int, message: str) -> bytes:
    error = {"type": ERROR_TYPES.get(status, "api_error"), "message": message}
    return orjson.dumps({"type": "error", "error": error})


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages request as an OpenAI chat request; BadRequest names what cannot be said in one."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text(system, "system")})
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise invalid(f"'{where}.content' must be a string or an array of content blocks.", f"{where}.content")
        if message.get("role") == "assistant":
            messages.append(_assistant(blocks, where))
        else:
            messages.extend(_user(blocks, where))
    request: dict[str, Any] = {"model": body["model"], "messages": messages, "max_tokens": body["max_tokens"]}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("stop_sequences"):
        request["stop"] = body["stop_sequences"]
    if body.get("stream"):
        request |= {"stream": True, "stream_options": {"include_usage": True}}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        request["user"] = metadata["user_id"]
    if body.get("tools"):
        request["tools"] = [_function(tool, f"tools[{i}]") for i, tool in enumerate(body["tools"])]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            request["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "any", "none"):
            request["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if choice.get("disable_parallel_tool_use"):
            request["parallel_tool_calls"] = False
    return request


class EventTexts(TextStream):
    """Messages events with each text block's `text_delta`s held back; the rest of a block's text goes out in one
    more `text_delta` just before its `content_block_stop`."""

    def _rewrite(self, event: bytes) -> bytes:
        payload = data_of(event)
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == "content_block_delta" and (payload.get("delta") or {}).get("type") == "text_delta":
            payload["delta"]["text"] = self.held(payload.get("index")).push(str(payload["delta"].get("text", "")))
            return _event(kind, payload)
        if kind == "content_block_stop" and payload.get("index") in self._holds:
            rest = self._holds.pop(payload["index"]).flush()
            delta = {"index": payload["index"], "delta": {"type": "text_delta", "text": rest}}
            return (_event("content_block_delta", delta) if rest else b"") + event
        return event


def _text(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(str(b.get("text", "")) for b in content)
    raise invalid(f"'{where}' must be a string or an array of text blocks.", where)


def _user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """A user turn: its tool results become OpenAI tool messages (first), the rest one user message."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        at = f"{where}.content[{index}]"
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block.get("source"), at)}})
        elif kind == "tool_result":
            content = block.get("content")
            text = _text(content, f"{at}.content") if content is not None else ""
            results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text})
        else:
            raise invalid(f"'{at}' must be a text, image or tool_result block here.", at)
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _image_url(source: object, where: str) -> str:
    if isinstance(source, dict) and source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise invalid(f"'{where}.source' must be a base64 or url image source.", f"{where}.source")


def _assistant(blocks: list[Any], where: str) -> dict[str, Any]:
    texts, calls = [], []
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind not in ("thinking", "redacted_thinking"):  # thinking is the model's own: not sent back elsewhere
            raise invalid(f"'{where}.content[{index}]' must be a text or tool_use block here.", where)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _function(tool: object, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise invalid(f"'{where}' must be a tool with a name and an input_schema.", where)
    function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def anthropic_usage(tokens: Tokens) -> dict[str, int]:
    return {
        "input_tokens": tokens.prompt - tokens.cached,
        "output_tokens": tokens.completion,
        "cache_read_input_tokens": tokens.cached,
        "cache_creation_input_tokens": 0,
    }


def message_of(completion: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI `chat.completion` as a Messages answer."""
    choice = (completion.get("choices") or [{}])[0]
    answer = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if answer.get("content"):
        content.append({"type": "text", "text": answer["content"]})
    for call in answer.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {}
        content.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
    usage = completion.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    tokens = Tokens(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, cached=cached)
    return {
        "id": completion.get("id"),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model"),
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(tokens),
    }


class MessagesEvents(EventRewriter):
    """Wraps a provider adapter's stream parser: its OpenAI chunks become Messages events as they come."""

    def __init__(self, inner: StreamParser, model: str) -> None:
        super().__init__(inner)
        self._model = model
        self._started = False
        self._block: tuple[int, str] | None = None  # the open content block: (index, 'text' or a tool call's index)
        self._blocks = 0
        self._stop = "end_turn"

    def _rewrite(self, event: bytes) -> bytes:
        if event.strip() == b"data: [DONE]":
            return self._close_block() + _event("message_delta", self._final()) + _event("message_stop", {})
        payload = data_of(event)
        if not isinstance(payload, dict):
            return b""
        if isinstance(payload.get("error"), dict):
            status = self._inner.status
            error = {"type": ERROR_TYPES.get(status, "api_error"), "message": str(payload["error"].get("message"))}
            return _event("error", {"error": error})
        out = b"" if self._started else self._start(payload)
        for choice in payload.get("choices") or ():
            out += self._delta(choice.get("delta") or {})
            if choice.get("finish_reason"):
                self._stop = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def _start(self, chunk: dict[str, Any]) -> bytes:
        self._started = True
        message: dict[str, Any] = {"id": chunk.get("id") or "msg_lockgate", "type": "message", "role": "assistant"}
        message["content"] = []
        message |= {"model": chunk.get("model") or self._model, "stop_reason": None, "stop_sequence": None}
        message["usage"] = {"input_tokens": 0, "output_tokens": 0}
        return _event("message_start", {"message": message})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        out = b""
        if delta.get("content"):
            if self._block is None or self._block[1] != "text":
                out += self._open({"type": "text", "text": ""}, "text")
            assert self._block is not None
            out += _event(
                "content_block_delta",
                {"index": self._block[0], "delta": {"type": "text_delta", "text": delta["content"]}},
            )
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            key = f"tool{call.get('index', 0)}"
            if self._block is None or self._block[1] != key:
                block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": {}}
                out += self._open(block, key)
            if function.get("arguments"):
                assert self._block is not None
                partial = {"type": "input_json_delta", "partial_json": function["arguments"]}
                out += _event("content_block_delta", {"index": self._block[0], "delta": partial})
        return out

    def _open(self, block: dict[str, Any], key: str) -> bytes:
        out = self._close_block()
        self._block = (self._blocks, key)
        self._blocks += 1
        return out + _event("content_block_start", {"index": self._block[0], "content_block": block})

    def _close_block(self) -> bytes:
        if self._block is None:
            return b""
        index, self._block = self._block[0], None
        return _event("content_block_stop", {"index": index})

    def _final(self) -> dict[str, Any]:
        usage = anthropic_usage(self._inner.tokens) if self._inner.tokens else {"output_tokens": 0}
        return {"delta": {"stop_reason": self._stop, "stop_sequence": None}, "usage": usage}


class AnthropicMessages:
    format = "anthropic"

    def prepare(self, body: dict[str, Any], route: CompiledRoute, upstream: Upstream) -> Prepared:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("messages: must be a non-empty array of messages.", "messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise invalid(f"messages.{index}.role: must be 'user' or 'assistant'.", f"messages.{index}.role")
        if upstream.model is not None:
            body["model"] = upstream.model
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("model: must be a non-empty string.", "model")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise invalid("max_tokens: must be a positive integer.", "max_tokens")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise invalid(f"stream: must be true or false, got {stream!r:.40}.", "stream")
        return Prepared(model, stream, include_usage=True, hide_usage=False)

    def texts(self, body: dict[str, Any]) -> Iterator[Said]:
        yield from said("system", "system", body.get("system"))
        for index, message in enumerate(body["messages"]):
            yield from said(message["role"], f"messages[{index}].content", message.get("content"))

    def decorate(self, body: dict[str, Any], before: list[tuple[str, str]], after: list[tuple[str, str]]) -> None:
        """System messages go into `system` (the Messages API has no system role), the others into `messages`."""
        first = [text for role, text in before if role == "system"]
        last = [text for role, text in after if role == "system"]
        if first or last:
            system = body.get("system")
            if isinstance(system, list):
                blocks = [{"type": "text", "text": text} for text in first]
                body["system"] = [*blocks, *system, *({"type": "text", "text": text} for text in last)]
            else:
                body["system"] = "\n\n".join([*first, *([system] if system else []), *last])
        made = [{"role": role, "content": text} for role, text in before if role != "system"]
        body["messages"] = [*made, *body["messages"]]
        body["messages"] += [{"role": role, "content": text} for role, text in after if role != "system"]

    def map_texts(self, body: dict[str, Any], change: Callable[[str], str]) -> None:
        if body.get("system") is not None:
            body["system"] = changed(body["system"], change)
        for message in body["messages"]:
            if message.get("content") is not None:
                message["content"] = changed(message["content"], change)

    def map_answer(self, answer: bytes, change: Callable[[str], str]) -> bytes:
        message = orjson.loads(answer)
        message["content"] = changed(message.get("content") or [], change)
        return orjson.dumps(message)

    def map_stream(self, parser: StreamParser, hold: Callable[[], TextHold]) -> StreamParser:
        return EventTexts(parser, hold)

    def unified(self, body: dict[str, Any]) -> dict[str, Any]:
        return chat_request(body)

    def answer(self, completion: bytes) -> bytes:
        return orjson.dumps(message_of(orjson.loads(completion)))

    def stream(self, parser: StreamParser) -> StreamParser:
        return MessagesEvents(parser, "")

    def error(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            status=status, body=error_body(status, message), content_type="application/json", headers=headers
        )

    def error_event(self, message: str, code: str) -> bytes:
        return _event("error", {"error": {"type": "api_error", "message": message}})
