"""`lockgate mock-llm --provider anthropic`: a local upstream that speaks Anthropic's Messages API (see
data/providers/anthropic.py for the pages it follows), streamed or not, with Anthropic's usage and errors.

The directives of mock_llm.py apply (status, sleep, text-status, invalid-json, break-stream), plus:
  mock:cached=N        report N of the prompt's tokens as read from the prompt cache
  mock:tool            answer with a tool_use block for the request's first tool
  mock:stream-error    send an `error` event (overloaded) after the first text delta
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web
from lockgate.gateway_runtime.mock_llm import (
    MockSettings,
    count_tokens,
    directed_failure,
    directives_in,
    reply_to,
    split_reply,
)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
_ERROR_TYPES |= {500: "api_error", 529: "overloaded_error"}
TOOL_INPUT = {"city": "Paris", "unit": "celsius"}


def _error(status: int, message: str) -> web.Response:
    error = {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}
    return web.json_response(error, status=status)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _problem(body: object) -> str | None:
    """What Anthropic would reject in a Messages request (the parts the mock reads)."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        if not isinstance(message.get("content"), str | list):
            return f"messages.{index}.content: Input should be a valid list"
    return None


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


def create_anthropic_app(settings: MockSettings) -> web.Application:
    async def messages(request: web.Request) -> web.StreamResponse:
        if settings.api_key and request.headers.get("x-api-key") != settings.api_key:
            return _error(401, "invalid x-api-key")
        if "anthropic-version" not in request.headers:
            return _error(400, "anthropic-version: header is required")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "The request body is not valid JSON.")
        problem = _problem(body)
        if problem is not None:
            return _error(400, problem)
        last = _text(body["messages"][-1]["content"])
        directives = directives_in(last)
        failed = await directed_failure(directives, settings, _error)
        if failed is not None:
            return failed
        reply = reply_to(last, directives)
        prompt = count_tokens(_text(body.get("system"))) + sum(
            count_tokens(_text(m["content"])) for m in body["messages"]
        )
        cached = min(directives.get("cached", 0), prompt)
        usage = {"input_tokens": prompt - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}
        tools = body.get("tools") or []
        tool = tools[0] if "tool" in directives and tools else None
        output = count_tokens(reply) + (count_tokens(orjson.dumps(TOOL_INPUT).decode()) if tool else 0)
        ident, model = f"msg_mock{time.monotonic_ns()}", body["model"]
        stop_reason = "tool_use" if tool else "end_turn"
        if not body.get("stream"):
            content: list[dict[str, Any]] = [{"type": "text", "text": reply}]
            if tool:
                content.append({"type": "tool_use", "id": "toolu_mock1", "name": tool["name"], "input": TOOL_INPUT})
            message = {"id": ident, "type": "message", "role": "assistant", "model": model, "content": content}
            message |= {"stop_reason": stop_reason, "stop_sequence": None, "usage": {**usage, "output_tokens": output}}
            return web.json_response(message)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        start = {"id": ident, "type": "message", "role": "assistant", "model": model, "content": []}
        start |= {"stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
        await response.write(_event("message_start", {"message": start}))
        await response.write(_event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        await response.write(_event("ping", {}))
        for index, piece in enumerate(split_reply(settings.chunks, reply)):
            delta = {"type": "text_delta", "text": piece}
            await response.write(_event("content_block_delta", {"index": 0, "delta": delta}))
            if "stream-error" in directives:
                error = {"type": "overloaded_error", "message": "Overloaded"}
                await response.write(_event("error", {"error": error}))
                return response
            if "break-stream" in directives and index == 1:
                assert request.transport is not None
                request.transport.abort()
                return response
            if settings.chunk_delay_ms:
                await asyncio.sleep(settings.chunk_delay_ms / 1000)
        await response.write(_event("content_block_stop", {"index": 0}))
        if tool:
            block = {"type": "tool_use", "id": "toolu_mock1", "name": tool["name"], "input": {}}
            await response.write(_event("content_block_start", {"index": 1, "content_block": block}))
            arguments = orjson.dumps(TOOL_INPUT).decode()
            for part in (arguments[:10], arguments[10:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                await response.write(_event("content_block_delta", {"index": 1, "delta": delta}))
            await response.write(_event("content_block_stop", {"index": 1}))
        final = {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": output}}
        await response.write(_event("message_delta", final))
        await response.write(_event("message_stop", {}))
        await response.write_eof()
        return response

    async def models(_: web.Request) -> web.Response:
        model = {"type": "model", "id": "mock-claude-1", "display_name": "Mock", "created_at": "2026-01-01T00:00:00Z"}
        return web.json_response({"data": [model], "has_more": False, "first_id": model["id"], "last_id": model["id"]})

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/v1/models", models)
    return app
