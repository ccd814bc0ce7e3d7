"""OpenAI chat completions, the unified format itself: requests and answers pass as they are.

Wire format: https://platform.openai.com/docs/api-reference/chat/create (the fields checked here: `messages`,
`model`, `stream`, `stream_options.include_usage`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from lockgate.gateway_runtime.data.clients.base import BadRequest, Prepared, Said, invalid
from lockgate.gateway_runtime.data.errors import error_event, error_response
from lockgate.gateway_runtime.data.providers.base import StreamParser
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.upstream import Upstream


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
            role = "system" if role == "developer" else str(role)
            content, where = message.get("content"), f"messages[{index}].content"
            if isinstance(content, str):
                yield Said(role, where, content)
            elif isinstance(content, list):
                for at, part in enumerate(content):
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield Said(role, f"{where}[{at}].text", part["text"])

    def decorate(self, body: dict[str, Any], before: list[tuple[str, str]], after: list[tuple[str, str]]) -> None:
        made = [{"role": role, "content": text} for role, text in before]
        body["messages"] = [*made, *body["messages"], *({"role": role, "content": text} for role, text in after)]

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


__all__ = ["BadRequest", "OpenAiChat"]
