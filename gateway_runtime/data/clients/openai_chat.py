"""OpenAI chat completions, the unified format itself: requests and answers pass as they are.

Wire format: https://platform.openai.com/docs/api-reference/chat/create (the fields checked here: `messages`,
`model`, `stream`, `stream_options.include_usage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from lockgate.gateway_runtime.data.clients.base import BadRequest, Prepared, Said, TextStream, changed, invalid, said
from lockgate.gateway_runtime.data.errors import error_event, error_response
from lockgate.gateway_runtime.data.providers.base import StreamParser
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.sse import DONE_EVENT, data_event, data_of
from lockgate.gateway_runtime.data.upstream import Upstream

if TYPE_CHECKING:
    from lockgate.gateway_runtime.data.policies.base import TextHold


class OpenAiChat:
    format = "openai"

    def prepare(self, body: dict[str, Any], route: CompiledRoute, upstream: Upstream) -> Prepared:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("'messages' must be a non-empty array of chat messages.", "messages")
        if upstream.model is not None:
            body["model"] = upstream.model
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("'model' must be a non-empty string.", "model")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise invalid(f"'stream' must be true or false, got {stream!r:.40}.", "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise invalid("'stream_options' must be an object.", "stream_options")
        include_usage = bool(options and options.get("include_usage"))
        hide_usage = stream and not include_usage and upstream.provider.relay and route.include_usage_in_streams
        if hide_usage:
            body["stream_options"] = {**(options or {}), "include_usage": True}
        return Prepared(model, stream, include_usage, hide_usage)

    def texts(self, body: dict[str, Any]) -> Iterator[Said]:
        for index, message in enumerate(body["messages"]):
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            yield from said(
                "system" if role == "developer" else str(role), f"messages[{index}].content", message.get("content")
            )

    def decorate(self, body: dict[str, Any], before: list[tuple[str, str]], after: list[tuple[str, str]]) -> None:
        made = [{"role": role, "content": text} for role, text in before]
        body["messages"] = [*made, *body["messages"], *({"role": role, "content": text} for role, text in after)]

    def map_texts(self, body: dict[str, Any], change: Callable[[str], str]) -> None:
        for message in body["messages"]:
            if isinstance(message, dict) and message.get("content") is not None:
                message["content"] = changed(message["content"], change)

    def map_answer(self, answer: bytes, change: Callable[[str], str]) -> bytes:
        completion = orjson.loads(answer)  # the provider adapter checked it is a JSON object
        for choice in completion.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = change(message["content"])
        return orjson.dumps(completion)

    def map_stream(self, parser: StreamParser, hold: Callable[[], TextHold]) -> StreamParser:
        return ChunkTexts(parser, hold)

    def unified(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def answer(self, completion: bytes) -> bytes:
        return completion

    def stream(self, parser: StreamParser) -> StreamParser:
        return parser

    def error(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return error_response(status, message, code, param, headers)

    def error_event(self, message: str, code: str) -> bytes:
        return error_event(message, code)


class ChunkTexts(TextStream):
    """OpenAI chunks with each choice's `delta.content` held back; the rest of a choice's text goes out with its
    `finish_reason` (or, if the stream ends without one, in a chunk of its own before `[DONE]`)."""

    _last: dict[str, Any] | None = None

    def _rewrite(self, event: bytes) -> bytes:
        chunk = data_of(event)
        if not isinstance(chunk, dict):
            return (self._rest() if event.strip() == DONE_EVENT.strip() else b"") + event
        self._last = chunk
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            hold = self.held(choice.get("index", 0))
            text = hold.push(delta["content"]) if isinstance(delta.get("content"), str) else ""
            if choice.get("finish_reason"):
                text += hold.flush()
            if text or "content" in delta:
                delta["content"] = text
        return data_event(chunk)

    def _rest(self) -> bytes:
        choices = [{"index": i, "delta": {"content": rest}} for i, h in self._holds.items() if (rest := h.flush())]
        if not choices or self._last is None:
            return b""
        return data_event({**self._last, "choices": choices, "usage": None})


__all__ = ["BadRequest", "OpenAiChat"]
