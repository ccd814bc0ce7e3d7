"""What the translating adapters share: reading the parts of an OpenAI chat request they all need (content parts,
images, tool calls, tools) and writing OpenAI's answer, chunks and usage.

OpenAI's request and response shapes: https://platform.openai.com/docs/api-reference/chat/create and
https://platform.openai.com/docs/api-reference/chat/streaming.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from lockgate.gateway_runtime.data.errors import error_event
from lockgate.gateway_runtime.data.providers.base import TranslationError
from lockgate.gateway_runtime.data.sse import DONE_EVENT, EventSplitter, data_event
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens


@dataclass(frozen=True, slots=True)
class Image:
    """An `image_url` part: inline (`data`, base64, with its media type) or by `url`."""

    media_type: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """A tool call of an assistant message (OpenAI's `tool_calls[i]`), arguments parsed."""

    id: str
    name: str
    arguments: dict[str, Any]


def parts(content: object, where: str) -> list[str | Image]:
    """A message's content as text and images, in order; TranslationError names a part the upstream cannot take."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"'{where}.content' must be a string or an array of parts.", f"{where}.content")
    out: list[str | Image] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            out.append(part["text"])
        elif kind == "image_url":
            out.append(_image(part.get("image_url"), f"{where}.content[{index}]"))
        else:
            raise TranslationError(
                f"'{where}.content[{index}]' must be a text or image_url part for this upstream.",
                f"{where}.content[{index}]",
            )
    return out


def text(content: object, where: str) -> str:
    """A message's text (a tool result, a system prompt): its text parts joined; images are refused."""
    pieces = parts(content, where)
    if any(isinstance(p, Image) for p in pieces):
        raise TranslationError(f"'{where}.content' can only hold text for this upstream.", f"{where}.content")
    return "".join(p for p in pieces if isinstance(p, str))


def _image(image: object, where: str) -> Image:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        raise TranslationError(f"'{where}.image_url.url' must be a URL or a data: URL.", f"{where}.image_url")
    if not url.startswith("data:"):
        return Image(_media_type_of(url), url=url)
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if encoding != "base64" or not data or not media_type:
        raise TranslationError(f"'{where}.image_url.url' must be a base64 data: URL.", f"{where}.image_url")
    return Image(media_type, data=data)


def _media_type_of(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for suffix, media_type in ((".png", "image/png"), (".gif", "image/gif"), (".webp", "image/webp")):
        if path.endswith(suffix):
            return media_type
    return "image/jpeg"


def calls(message: dict[str, Any], where: str) -> list[Call]:
    out = []
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
        out.append(Call(str(call.get("id", "")), function["name"], arguments))
    return out


def functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's tools as {name, description?, parameters}; TranslationError for one that is not a function."""
    out = []
    for index, tool in enumerate(body.get("tools") or ()):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError(f"'tools[{index}]' must be a function tool with a name.", f"tools[{index}]")
        declared = {"name": function["name"], "parameters": function.get("parameters") or {"type": "object"}}
        if isinstance(function.get("description"), str):
            declared["description"] = function["description"]
        out.append(declared)
    return out


def one_choice(body: dict[str, Any]) -> None:
    if body.get("n", 1) not in (1, None):
        raise TranslationError("This upstream answers one choice per request: 'n' must be 1.", "n")


def max_tokens(body: dict[str, Any]) -> Any:
    return body.get("max_completion_tokens") or body.get("max_tokens")


def stop_sequences(body: dict[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    return ([stop] if isinstance(stop, str) else list(stop)) if stop else None


def openai_usage_of(tokens: Tokens) -> dict[str, Any]:
    return {
        "prompt_tokens": tokens.prompt,
        "completion_tokens": tokens.completion,
        "total_tokens": tokens.total,
        "prompt_tokens_details": {"cached_tokens": tokens.cached},
        "completion_tokens_details": {"reasoning_tokens": tokens.reasoning},
    }


def tool_call(call_id: object, name: object, arguments: object) -> dict[str, Any]:
    arguments = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chat_completion(
    ident: object, model: object, texts: list[str], tool_calls: list[dict[str, Any]], finish: str | None, tokens: Tokens
) -> dict[str, Any]:
    """An OpenAI `chat.completion` of one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": openai_usage_of(tokens),
    }


class Chunks:
    """Writes one stream's OpenAI `chat.completion.chunk` events (same id, model and time on each)."""

    __slots__ = ("base",)

    def __init__(self, model: str) -> None:
        self.base: dict[str, Any] = {"id": "", "object": "chat.completion.chunk", "created": int(time.time())}
        self.base["model"] = model

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data_event({**self.base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def usage(self, tokens: Tokens) -> bytes:
        return data_event({**self.base, "choices": [], "usage": openai_usage_of(tokens)})


class StreamTranslator:
    """Base of the parsers that turn a provider's stream into OpenAI chunks: whole events in (`_translate`, one at
    a time, none after the end), OpenAI events out; an event past the size bound fails the stream."""

    def __init__(self, upstream: str, model: str, include_usage: bool) -> None:
        self._events = EventSplitter()
        self._upstream, self._include_usage = upstream, include_usage
        self._chunks = Chunks(model)
        self.tokens: Tokens | None = None
        self.done = False
        self.status = 200

    def feed(self, chunk: bytes) -> bytes:
        events, overflow = self._events.feed(chunk)
        out = []
        for event in events:
            if self.done:
                break
            out.append(self._translate(event))
        if overflow and not self.done:
            out.append(
                self._fail(502, f"Upstream '{self._upstream}' sent a stream event over 1 MiB.", "upstream_error")
            )
        return b"".join(out)

    def close(self) -> bytes:
        return b""

    def _translate(self, event: bytes) -> bytes:
        raise NotImplementedError

    def _end(self) -> bytes:
        """The stream's proper end: the usage chunk (when the client asked for it) and [DONE]."""
        self.done = True
        usage = self._chunks.usage(self.tokens or NO_TOKENS) if self._include_usage else b""
        return usage + DONE_EVENT

    def _fail(self, status: int, message: str, code: str) -> bytes:
        self.done, self.status = True, status
        return error_event(message, code)


def json_of(body: bytes) -> Any:
    """The JSON in `body`; None if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def model_list(body: bytes, key: str, field: str, owner: str, prefix: str = "") -> bytes | None:
    """A provider's model list (`{key: [{field: id, ...}]}`) as OpenAI's; None if it is not one."""
    listing = json_of(body)
    data = listing.get(key) if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return None
    models = [
        {"id": m[field].removeprefix(prefix), "object": "model", "owned_by": str(m.get("providerName", owner))}
        for m in data
        if isinstance(m, dict) and isinstance(m.get(field), str)
    ]
    return orjson.dumps({"object": "list", "data": models})
