"""`lockgate mock-llm --provider bedrock`: a local upstream that speaks AWS Bedrock's Converse and ConverseStream
(see data/providers/bedrock.py for the pages it follows), with the binary event stream, Bedrock's usage and errors.

It checks each request's SigV4 signature against one credential, ACCESS_KEY_ID / SECRET_ACCESS_KEY below (in region
REGION), recomputed from the request as it arrived; or takes `Authorization: Bearer API_KEY`. Anything else is a 403.
The directives of mock_llm.py apply (status, sleep, text-status, invalid-json, break-stream), plus:
  mock:cached=N        report N of the prompt's tokens as read from the cache
  mock:tool            answer with a toolUse of the request's first tool
  mock:stream-error    send a throttlingException after the first text delta
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lockgate.gateway_runtime.mock_llm import (
    REPLY,
    VECTOR,
    MockSettings,
    count_tokens,
    directed_failure,
    directives_in,
    split_reply,
)

ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION = "AKIAMOCKLOCKGATE0000", "mock-secret-access-key", "us-east-1"
API_KEY = "mock-bedrock-api-key"
TOOL_INPUT = {"city": "Paris"}
_ERRORS = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException"}
_ERRORS |= {429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException"}


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding: prelude (lengths + CRC), string headers, payload, CRC."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, orjson.dumps(payload))


def _error(status: int, message: str) -> web.Response:
    kind = _ERRORS.get(status, "InternalServerException")
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": kind})


def _signature_problem(request: web.Request, body: bytes) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization == f"Bearer {API_KEY}":
        return None
    if f"Credential={ACCESS_KEY_ID}/" not in authorization:
        return "The security token included in the request is invalid."
    signed = authorization.partition("SignedHeaders=")[2].partition(",")[0].split(";")
    headers = {name: request.headers[name] for name in signed if name in request.headers and name != "host"}
    received = AWSRequest(
        method=request.method, url=f"http://{request.host}{request.raw_path}", data=body, headers=headers
    )
    received.context["timestamp"] = request.headers.get("X-Amz-Date", "")
    auth = SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "bedrock", REGION)
    expected = auth.signature(auth.string_to_sign(received, auth.canonical_request(received)), received)
    if not authorization.endswith(f"Signature={expected}"):
        return "The request signature we calculated does not match the signature you provided."
    return None


def _text(content: object) -> str:
    blocks = content if isinstance(content, list) else ()
    return " ".join(b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str))


def create_bedrock_app(settings: MockSettings) -> web.Application:
    async def converse(request: web.Request) -> web.StreamResponse:
        body_bytes = await request.read()
        problem = _signature_problem(request, body_bytes)
        if problem is not None:
            return web.json_response({"message": problem}, status=403)
        try:
            body = orjson.loads(body_bytes)
        except orjson.JSONDecodeError:
            return _error(400, "Malformed input request, please reformat your input and try again.")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "The model returned the following errors: messages: required")
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return _error(400, "A conversation must alternate between user and assistant roles.")
            if any(isinstance(b, dict) and b.get("text") == "" for b in message.get("content") or ()):
                return _error(400, "The text field in the ContentBlock object is blank.")
        directives = directives_in(_text(messages[-1].get("content")))
        failed = await directed_failure(directives, settings, _error)
        if failed is not None:
            return failed
        prompt = sum(count_tokens(_text(m.get("content"))) for m in messages) + count_tokens(_text(body.get("system")))
        cached = min(directives.get("cached", 0), prompt)
        tools = (body.get("toolConfig") or {}).get("tools") or []
        tool = tools[0]["toolSpec"]["name"] if "tool" in directives and tools else None
        output = count_tokens(REPLY) + (3 if tool else 0)
        usage = {"inputTokens": prompt - cached, "outputTokens": output, "totalTokens": prompt + output}
        usage |= {"cacheReadInputTokens": cached, "cacheWriteInputTokens": 0}
        stop = "tool_use" if tool else "end_turn"
        use = {"toolUse": {"toolUseId": "tooluse_mock1", "name": tool, "input": TOOL_INPUT}}
        if request.match_info["action"] == "converse":
            content = [{"text": REPLY}, *([use] if tool else [])]
            answer = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop}
            return web.json_response({**answer, "usage": usage, "metrics": {"latencyMs": 1}})
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await response.prepare(request)
        await response.write(event("messageStart", {"role": "assistant"}))
        for index, piece in enumerate(split_reply(settings.chunks)):
            await response.write(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
            if "stream-error" in directives:
                headers = {":exception-type": "throttlingException", ":content-type": "application/json"}
                await response.write(
                    frame({**headers, ":message-type": "exception"}, b'{"message":"Too many requests"}')
                )
                return response
            if "break-stream" in directives and index == 1:
                assert request.transport is not None
                request.transport.abort()
                return response
            if settings.chunk_delay_ms:
                await asyncio.sleep(settings.chunk_delay_ms / 1000)
        await response.write(event("contentBlockStop", {"contentBlockIndex": 0}))
        if tool:
            start = {"toolUse": {"toolUseId": "tooluse_mock1", "name": tool}}
            await response.write(event("contentBlockStart", {"contentBlockIndex": 1, "start": start}))
            arguments = orjson.dumps(TOOL_INPUT).decode()
            for part in (arguments[:6], arguments[6:]):
                delta = {"toolUse": {"input": part}}
                await response.write(event("contentBlockDelta", {"contentBlockIndex": 1, "delta": delta}))
            await response.write(event("contentBlockStop", {"contentBlockIndex": 1}))
        await response.write(event("messageStop", {"stopReason": stop}))
        await response.write(event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
        await response.write_eof()
        return response

    async def invoke(request: web.Request) -> web.Response:
        """InvokeModel for Titan's and Cohere's embeddings models."""
        body_bytes = await request.read()
        problem = _signature_problem(request, body_bytes)
        if problem is not None:
            return web.json_response({"message": problem}, status=403)
        body, model = orjson.loads(body_bytes), request.match_info["model"]
        if model.startswith("cohere.embed") and isinstance(body.get("texts"), list) and body.get("input_type"):
            return web.json_response(
                {"id": "mock", "embeddings": [VECTOR for _ in body["texts"]], "texts": body["texts"]}
            )
        if model.startswith("amazon.titan-embed") and isinstance(body.get("inputText"), str):
            return web.json_response({"embedding": VECTOR, "inputTextTokenCount": count_tokens(body["inputText"])})
        return _error(400, f"Malformed input request for {model}: {sorted(body)}")

    app = web.Application()
    app.router.add_post("/model/{model}/invoke", invoke)
    app.router.add_post("/model/{model}/{action:converse|converse-stream}", converse)
    return app
