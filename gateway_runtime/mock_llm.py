"""`lockgate mock-llm`: a local upstream for the demo, tests and benchmarks, in one provider's wire format:
OpenAI's (the default), Azure OpenAI's (OpenAI's on deployment URLs, the key in `api-key`), or (`--provider NAME`)
Anthropic's, Gemini's, Cohere's or Bedrock's (mock_anthropic.py, mock_gemini.py, mock_cohere.py, mock_bedrock.py).

It answers chat completions with a fixed reply split into `chunks` SSE events (`chunk_delay_ms` apart), with usage.
`GET /_mock/last-request` answers the last POST it got (path, headers, JSON body), for tests of what the gateway
sends. Directives in the last user message drive failure modes for tests:
  mock:status=500       answer with that HTTP status and an OpenAI-style error
  mock:sleep=2000       wait that many ms before answering
  mock:invalid-json     answer 200 with a body that is not JSON
  mock:text-status=500  answer with that HTTP status and a plain-text body (not an OpenAI error)
  mock:bad-usage=1      report `usage` as [1] (=2: as {"prompt_tokens": "x", ...}), streamed or not
  mock:break-stream     send two chunks, then drop the connection
  mock:cached=N         report N of the prompt's tokens as cached
  mock:echo             answer with the last user message (its directives taken out) instead of the fixed reply
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from lockgate.sdk import Health

LAST_REQUEST = web.AppKey("last_request", dict)
REPLY = "Hello from the lockgate mock LLM. This reply is split into chunks to exercise streaming."
VECTOR = [0.25, -0.5, 0.125]  # every embedding the mocks answer
_DIRECTIVE = re.compile(r"mock:([a-z-]+)(?:=(\d+))?")


@dataclass(frozen=True)
class MockSettings:
    host: str = "127.0.0.1"
    port: int = 9000
    chunks: int = 8
    chunk_delay_ms: float = 0.0
    latency_ms: float = 0.0
    api_key: str | None = None
    name: str | None = None
    provider: str = "openai"  # the wire format: one of sdk.providers.PROVIDERS
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # /health says it, like `lockgate serve`


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def directives_in(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2) or 0) for m in _DIRECTIVE.finditer(text)}


def reply_to(text: str, directives: dict[str, int]) -> str:
    """What the mock answers: REPLY, or with `mock:echo` the last user message without its directives."""
    return (_DIRECTIVE.sub("", text).strip() or REPLY) if "echo" in directives else REPLY


def split_reply(parts: int, reply: str = REPLY) -> list[str]:
    """`reply` in about `parts` pieces, split between words."""
    words = reply.split(" ")
    parts = max(1, min(parts, len(words)))
    size = -(-len(words) // parts)
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


def _invalid(message: str, param: str | None) -> web.Response:
    """A 400 the way OpenAI answers one."""
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return web.json_response({"error": error}, status=400)


def _request_problem(body: object) -> tuple[str, str] | None:
    """What OpenAI would reject in a chat request (the parts the mock reads), as (message, param)."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", "body"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array.", "messages"
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"Invalid type for 'messages[{index}]': expected an object, but got {type(message).__name__}.", (
                f"messages[{index}]"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            return f"Invalid type for 'messages[{index}].content': expected a string or an array.", (
                f"messages[{index}].content"
            )
    if not isinstance(body.get("model", ""), str):
        return "'model' must be a string.", "model"
    return None


def _text(content: object) -> str:
    """A message's text: a string, or the text parts of a multi-part content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


async def directed_failure(
    directives: dict[str, int], settings: MockSettings, error: Callable[[int, str], web.Response]
) -> web.Response | None:
    """What the failure directives ask for (after the latency asked for, or the mock's own), in the provider's
    error shape (`error`); None: answer normally."""
    delay = directives.get("sleep", 0) / 1000 or settings.latency_ms / 1000
    if delay:
        await asyncio.sleep(delay)
    if "status" in directives:
        return error(directives["status"], "mock failure")
    if "text-status" in directives:
        return web.Response(status=directives["text-status"], text="Server got itself in trouble")
    if "invalid-json" in directives:
        return web.Response(body=b"{not json", content_type="application/json")
    return None


def _server_error(status: int, message: str) -> web.Response:
    error = {"error": {"message": message, "type": "server_error", "code": None}}
    return web.json_response(error, status=status)


def create_mock_app(settings: MockSettings) -> web.Application:
    """The mock's app for `settings.provider`, with /health."""
    if settings.provider == "anthropic":
        from lockgate.gateway_runtime.mock_anthropic import create_anthropic_app

        app = create_anthropic_app(settings)
    elif settings.provider == "bedrock":
        from lockgate.gateway_runtime.mock_bedrock import create_bedrock_app

        app = create_bedrock_app(settings)
    elif settings.provider == "cohere":
        from lockgate.gateway_runtime.mock_cohere import create_cohere_app

        app = create_cohere_app(settings)
    elif settings.provider == "gemini":
        from lockgate.gateway_runtime.mock_gemini import create_gemini_app

        app = create_gemini_app(settings)
    else:
        app = _openai_app(settings)
    identity = Health(status="ok", name=settings.name, instance_id=settings.instance_id).model_dump_json()

    async def health(_: web.Request) -> web.Response:
        return web.Response(text=identity, content_type="application/json")

    @web.middleware
    async def remember(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "POST":  # for tests of what the gateway sent: GET /_mock/last-request
            raw = await request.read()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw.decode(errors="replace")
            app[LAST_REQUEST] = {"path": request.path, "headers": dict(request.headers), "body": body}
        return await handler(request)

    async def last_request(_: web.Request) -> web.Response:
        return web.json_response(app.get(LAST_REQUEST))

    app.middlewares.append(remember)
    app.router.add_get("/health", health)
    app.router.add_get("/_mock/last-request", last_request)
    return app


def _openai_app(settings: MockSettings) -> web.Application:
    azure = settings.provider == "azure"
    expected = (settings.api_key if azure else f"Bearer {settings.api_key}") if settings.api_key else None

    async def chat(request: web.Request) -> web.StreamResponse:
        if expected and request.headers.get("api-key" if azure else "Authorization") != expected:
            return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _invalid(f"We could not parse the JSON body of your request: {exc}.", None)
        problem = _request_problem(body)
        if problem is not None:
            return _invalid(*problem)
        if azure and not request.query.get("api-version"):
            return _invalid("Missing required query parameter: api-version.", None)
        last = _text(body["messages"][-1].get("content"))
        directives = directives_in(last)
        failed = await directed_failure(directives, settings, _server_error)
        if failed is not None:
            return failed
        reply = reply_to(last, directives)
        model = request.match_info.get("deployment") or str(body.get("model", "mock-1"))
        prompt = sum(count_tokens(_text(m.get("content"))) for m in body["messages"])
        completion = count_tokens(reply)
        usage: Any = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if "cached" in directives:
            usage["prompt_tokens_details"] = {"cached_tokens": min(directives["cached"], prompt)}
        if "bad-usage" in directives:
            usage = [1] if directives["bad-usage"] == 1 else {"prompt_tokens": "x", "completion_tokens": 3}
        ident, created = f"chatcmpl-mock{time.monotonic_ns()}", int(time.time())
        if not body.get("stream"):
            return web.Response(
                body=orjson.dumps(
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                        ],
                        "usage": usage,
                    }
                ),
                content_type="application/json",
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        pieces = split_reply(settings.chunks, reply)
        for index, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece} if index else {"role": "assistant", "content": piece}
            finish = "stop" if index == len(pieces) - 1 else None
            chunk = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            if "break-stream" in directives and index == 1:
                assert request.transport is not None
                request.transport.abort()
                return response
            if settings.chunk_delay_ms:
                await asyncio.sleep(settings.chunk_delay_ms / 1000)
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            final = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            await response.write(b"data: " + orjson.dumps(final) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def models(_: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "mock-1", "object": "model", "owned_by": "lockgate"}]}
        )

    async def embeddings(request: web.Request) -> web.Response:
        if expected and request.headers.get("api-key" if azure else "Authorization") != expected:
            return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
        body = orjson.loads(await request.read())
        given = body.get("input") if isinstance(body, dict) else None
        texts = [given] if isinstance(given, str) else given if isinstance(given, list) else None
        if not texts:
            return _invalid("'input' is required.", "input")
        prompt = sum(count_tokens(t) if isinstance(t, str) else len(t) for t in texts)
        data = [{"object": "embedding", "index": i, "embedding": VECTOR} for i in range(len(texts))]
        model = request.match_info.get("deployment") or str(body.get("model"))
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    app = web.Application()
    if azure:
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", embeddings)
        app.router.add_get("/openai/models", models)
    else:
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/embeddings", embeddings)
        app.router.add_get("/v1/models", models)
    return app


def run_mock(settings: MockSettings) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    web.run_app(create_mock_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)
