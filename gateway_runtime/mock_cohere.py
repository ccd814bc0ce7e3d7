"""`lockgate mock-llm --provider cohere`: a local upstream that speaks Cohere's v2 chat (see
data/providers/cohere.py for the pages it follows), streamed or not, with Cohere's usage and errors.

The directives of mock_llm.py apply (status, sleep, text-status, invalid-json, break-stream), plus:
  mock:cached=N        report N of the prompt's tokens as cached
  mock:tool            answer with a tool call of the request's first tool
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web
from lockgate.gateway_runtime.mock_llm import (
    REPLY,
    VECTOR,
    MockSettings,
    count_tokens,
    directed_failure,
    directives_in,
    split_reply,
)

SYSTEM_TOKENS = 7  # Cohere adds tokens of its own to a prompt: counted in usage.tokens, not billed
TOOL_ARGS = '{"city": "Paris"}'


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"id": f"err{time.monotonic_ns()}", "message": message}, status=status)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


def create_cohere_app(settings: MockSettings) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        if settings.api_key and request.headers.get("Authorization") != f"Bearer {settings.api_key}":
            return _error(401, "invalid api token")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "invalid request: body is not valid JSON")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages or not isinstance(body.get("model"), str):
            return _error(400, "invalid request: model and messages are required")
        if any(
            not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool") for m in messages
        ):
            return _error(400, "invalid request: a message role must be system, user, assistant or tool")
        directives = directives_in(_text(messages[-1].get("content")))
        failed = await directed_failure(directives, settings, _error)
        if failed is not None:
            return failed
        prompt = sum(count_tokens(_text(m.get("content"))) for m in messages)
        tools = body.get("tools") or []
        tool = tools[0]["function"]["name"] if "tool" in directives and tools else None
        output = count_tokens(REPLY) + (3 if tool else 0)
        usage: dict[str, Any] = {
            "billed_units": {"input_tokens": prompt, "output_tokens": output},
            "tokens": {"input_tokens": prompt + SYSTEM_TOKENS, "output_tokens": output},
        }
        if "cached" in directives:
            usage["cached_tokens"] = min(directives["cached"], prompt)
        ident, reason = f"mock{time.monotonic_ns()}", "TOOL_CALL" if tool else "COMPLETE"
        calls = [{"id": "call_mock1", "type": "function", "function": {"name": tool, "arguments": TOOL_ARGS}}]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": [{"type": "text", "text": REPLY}]}
            if tool:
                message |= {"tool_plan": "I will call the tool.", "tool_calls": calls}
            return web.json_response({"id": ident, "message": message, "finish_reason": reason, "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
        await response.write(_event("message-start", {"id": ident, "delta": start}))
        await response.write(_event("content-start", {"index": 0, "delta": {"message": {"content": {"type": "text"}}}}))
        for index, piece in enumerate(split_reply(settings.chunks)):
            delta = {"message": {"content": {"text": piece}}}
            await response.write(_event("content-delta", {"index": 0, "delta": delta}))
            if "break-stream" in directives and index == 1:
                assert request.transport is not None
                request.transport.abort()
                return response
            if settings.chunk_delay_ms:
                await asyncio.sleep(settings.chunk_delay_ms / 1000)
        await response.write(_event("content-end", {"index": 0}))
        if tool:
            first = {**calls[0], "function": {"name": tool, "arguments": ""}}
            await response.write(_event("tool-call-start", {"index": 0, "delta": {"message": {"tool_calls": first}}}))
            for part in (TOOL_ARGS[:8], TOOL_ARGS[8:]):
                arguments = {"message": {"tool_calls": {"function": {"arguments": part}}}}
                await response.write(_event("tool-call-delta", {"index": 0, "delta": arguments}))
            await response.write(_event("tool-call-end", {"index": 0}))
        end = {"finish_reason": reason, "usage": usage}
        await response.write(_event("message-end", {"id": ident, "delta": end}))
        await response.write_eof()
        return response

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": "mock-command-1", "endpoints": ["chat"]}]})

    async def embed(request: web.Request) -> web.Response:
        if settings.api_key and request.headers.get("Authorization") != f"Bearer {settings.api_key}":
            return _error(401, "invalid api token")
        body = orjson.loads(await request.read())
        texts = body.get("texts") if isinstance(body, dict) else None
        if not isinstance(texts, list) or not texts or body.get("input_type") is None:
            return _error(400, "invalid request: texts and input_type are required")
        if body.get("embedding_types") != ["float"]:
            return _error(400, "the mock answers embedding_types ['float'] only")
        meta = {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(count_tokens(t) for t in texts)}}
        vectors = {"float": [VECTOR for _ in texts]}
        return web.json_response({"id": "mock-embed", "embeddings": vectors, "texts": texts, "meta": meta})

    app = web.Application()
    app.router.add_post("/v2/embed", embed)
    app.router.add_post("/v2/chat", chat)
    app.router.add_get("/v1/models", models)
    return app
