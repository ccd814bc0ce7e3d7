"""`lockgate mock-llm --provider gemini`: a local upstream that speaks the Gemini API's generateContent (see
data/providers/gemini.py for the pages it follows), streamed (`alt=sse`) or not, with Gemini's usage and errors,
and batchEmbedContents (answered without usage metadata, as the API documents it).

The directives of mock_llm.py apply (status, sleep, text-status, invalid-json, break-stream), plus:
  mock:cached=N        report N of the prompt's tokens as cached content
  mock:thoughts=N      report N thinking tokens
  mock:tool            answer with a functionCall of the request's first function
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

_STATUSES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}
_STATUSES |= {500: "INTERNAL", 503: "UNAVAILABLE"}
TOOL_ARGS = {"city": "Paris"}


def _error(status: int, message: str, reason: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUSES.get(status, "UNKNOWN")}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return web.json_response({"error": error}, status=status)


def _text(parts: object) -> str:
    if not isinstance(parts, list):
        return ""
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _problem(body: object) -> str | None:
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
            return f"* GenerateContentRequest.contents[{index}].role: must be user or model"
        if not isinstance(content.get("parts"), list) or not content["parts"]:
            return f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty"
    return None


def _embeddings(model: str, body: object) -> web.Response:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return _error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    for index, one in enumerate(requests):
        if (
            not isinstance(one, dict)
            or one.get("model") != f"models/{model}"
            or not _text((one.get("content") or {}).get("parts"))
        ):
            return _error(400, f"* BatchEmbedContentsRequest.requests[{index}]: model or content.parts is wrong")
    return web.json_response({"embeddings": [{"values": VECTOR} for _ in requests]})


def create_gemini_app(settings: MockSettings) -> web.Application:
    async def generate(request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["call"].partition(":")
        if action not in ("generateContent", "streamGenerateContent", "batchEmbedContents"):
            return _error(404, f"Method {action!r} not found.")
        if settings.api_key and request.headers.get("x-goog-api-key") != settings.api_key:
            return _error(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON payload received.")
        if action == "batchEmbedContents":
            return _embeddings(model, body)
        problem = _problem(body)
        if problem is not None:
            return _error(400, problem)
        directives = directives_in(_text(body["contents"][-1]["parts"]))
        failed = await directed_failure(directives, settings, _error)
        if failed is not None:
            return failed
        prompt = sum(count_tokens(_text(c["parts"])) for c in body["contents"])
        prompt += count_tokens(_text((body.get("systemInstruction") or {}).get("parts")))
        declarations = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
        tool = declarations[0] if "tool" in directives and declarations else None
        candidates = count_tokens(REPLY) + (3 if tool else 0)
        thoughts = directives.get("thoughts", 0)
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
        usage |= {"totalTokenCount": prompt + candidates + thoughts}
        if "cached" in directives:
            usage["cachedContentTokenCount"] = min(directives["cached"], prompt)
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        ident = f"mock{time.monotonic_ns()}"
        base = {"modelVersion": model, "responseId": ident}
        call = [{"functionCall": {"name": tool["name"], "args": TOOL_ARGS}}] if tool else []
        if action == "generateContent":
            content = {"role": "model", "parts": [{"text": REPLY}, *call]}
            candidate = {"content": content, "finishReason": "STOP", "index": 0}
            return web.json_response({"candidates": [candidate], "usageMetadata": usage, **base})
        if request.query.get("alt") != "sse":
            return _error(400, "the mock streams only with alt=sse")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = split_reply(settings.chunks)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            parts = [{"text": piece}, *(call if last else [])]
            candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
            if last:
                candidate["finishReason"] = "STOP"
            so_far = usage if last else {"promptTokenCount": prompt, "totalTokenCount": prompt}
            event = {"candidates": [candidate], "usageMetadata": so_far, **base}
            await response.write(b"data: " + orjson.dumps(event) + b"\r\n\r\n")
            if "break-stream" in directives and index == 1:
                assert request.transport is not None
                request.transport.abort()
                return response
            if settings.chunk_delay_ms:
                await asyncio.sleep(settings.chunk_delay_ms / 1000)
        await response.write_eof()
        return response

    async def models(_: web.Request) -> web.Response:
        model = {
            "name": "models/mock-gemini-1",
            "displayName": "Mock",
            "supportedGenerationMethods": ["generateContent"],
        }
        return web.json_response({"models": [model]})

    app = web.Application()
    app.router.add_post("/v1beta/models/{call}", generate)
    app.router.add_get("/v1beta/models", models)
    return app
