"""The data plane: OpenAI-compatible chat completions and models, proxied to each route's upstream."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from lockgate.gateway_runtime.data.errors import error_event, error_response
from lockgate.gateway_runtime.data.http import ProxyServer
from lockgate.gateway_runtime.data.identities import KeyDelta
from lockgate.gateway_runtime.data.limits import FixedWindowLimiter, Limiter
from lockgate.gateway_runtime.data.pipeline import Reject, run_access
from lockgate.gateway_runtime.data.providers.base import StreamParser, TranslationError, UpstreamCall
from lockgate.gateway_runtime.data.snapshot import CompiledRoute, Snapshot
from lockgate.gateway_runtime.data.upstream import Upstream, UpstreamPool
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens
from lockgate.gateway_runtime.data.usage_log import UsageLog

log = logging.getLogger("lockgate.proxy")
ANONYMOUS = "anonymous"
_PASS_HEADERS = ("x-request-id", "openai-processing-ms")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BadRequest(Exception):
    def __init__(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers


class DataPlane:
    """Serves from the current snapshot; `install` swaps it atomically (a request keeps the one it started with)."""

    def __init__(self, snapshot: Snapshot, pool: UpstreamPool, usage: UsageLog, limiter: Limiter | None = None) -> None:
        self.install(snapshot)
        self.pool = pool
        self.usage = usage
        self.limiter: Limiter = limiter or FixedWindowLimiter()

    def install(self, snapshot: Snapshot) -> None:
        for upstream in snapshot.upstreams:
            upstream.activate()
        self.snapshot = snapshot
        self.version = snapshot.version
        # A snapshot lives long and holds ~10 objects per consumer: keep it out of the cyclic GC's full scans,
        # which otherwise stall every request for tens of ms with 10,000 consumers (refcounting still frees it).
        gc.freeze()

    def apply_keys(self, delta: KeyDelta, version: int) -> None:
        """A change to consumers or keys only: applied to the serving key table in place (O(keys changed))."""
        self.snapshot.keys.apply(delta)
        self.version = version
        gc.freeze()  # what the delta added lives long too: out of the full collections' scans (see install)

    def server(self) -> web.Server:
        """aiohttp's low-level server: no router or middleware stack on the hot path (we route ourselves)."""
        return ProxyServer(self.handle, lambda: self.snapshot.settings)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        snapshot = self.snapshot
        match = snapshot.router.match(request.path)
        if match is None or request.method not in match.route.methods:
            return error_response(404, f"No route matches {request.method} {request.path}.", "route_not_found")
        route = match.route
        if match.operation is None or (match.operation, request.method) not in (("chat", "POST"), ("models", "GET")):
            return error_response(
                404,
                f"Route '{route.name}' serves POST .../chat/completions and GET .../models, not "
                f"{request.method} {match.rest}.",
                "operation_not_found",
            )
        access = run_access(snapshot, route, request.headers, self.limiter)
        if isinstance(access, Reject):
            return error_response(access.status, access.message, access.code, headers=access.headers)
        consumer = access.consumer.name if access.consumer else ANONYMOUS
        if match.operation == "models":
            return await self._models(route.upstream, access.response_headers)
        upstream = route.upstream
        try:
            body = await _read_json_object(request, snapshot.settings.max_body_bytes)
            model, stream, include_usage, hide_usage = _prepare_chat(body, route)
            call = upstream.provider.chat_call(body, stream)
        except BadRequest as exc:
            return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)
        except TranslationError as exc:
            return error_response(400, exc.message, "invalid_request", exc.param)
        if not (upstream.gate.try_acquire() or await upstream.gate.acquire(upstream.pool_timeout_s)):
            return _busy(upstream)
        try:
            if stream:
                parser = upstream.provider.stream_parser(model, include_usage, hide_usage)
                return await self._stream(request, route, call, parser, model, consumer, access.response_headers)
            return await self._complete(route, call, model, consumer, access.response_headers)
        finally:
            upstream.gate.release()

    async def _complete(
        self, route: CompiledRoute, call: UpstreamCall, model: str, consumer: str, headers: dict[str, str]
    ) -> web.StreamResponse:
        upstream = route.upstream
        try:
            async with upstream.session.post(
                call.url, data=call.payload, headers=call.headers, timeout=upstream.timeout
            ) as response:
                body = await response.read()
                status = response.status
                content_type = response.content_type if status != 200 else ""  # parsed only for an error
                _copy_headers(response, headers)
        except aiohttp.ClientError as exc:
            return _failed(upstream, exc)
        if status != 200:
            self._record(route, consumer, model, False, status, None)
            return _upstream_error(upstream, status, content_type, body)
        completion = upstream.provider.completion(body, model)
        if completion is None:
            return error_response(
                502,
                f"Upstream '{upstream.name}' returned a response that is not a valid answer.",
                "upstream_invalid_response",
            )
        self._record(route, consumer, model, False, status, completion.tokens)
        return web.Response(status=status, body=completion.body, content_type="application/json", headers=headers)

    async def _stream(
        self,
        request: web.BaseRequest,
        route: CompiledRoute,
        call: UpstreamCall,
        parser: StreamParser,
        model: str,
        consumer: str,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        upstream = route.upstream
        client: web.StreamResponse | None = None
        status, recorded = 200, False
        try:
            async with upstream.session.post(
                call.url, data=call.payload, headers=call.headers, timeout=upstream.timeout
            ) as response:
                if response.status != 200 or response.content_type != upstream.provider.stream_type:
                    body = await response.read()
                    if response.status == 200:
                        return error_response(
                            502,
                            f"Upstream '{upstream.name}' answered a stream request without an event stream.",
                            "upstream_invalid_response",
                        )
                    self._record(route, consumer, model, True, response.status, None)
                    return _upstream_error(upstream, response.status, response.content_type, body)
                _copy_headers(response, headers)
                client = web.StreamResponse(status=200, headers=headers)
                client.content_type = "text/event-stream"
                client.headers["Cache-Control"] = "no-cache"
                await client.prepare(request)
                async for chunk in response.content.iter_any():
                    out = parser.feed(chunk)
                    if parser.done and not recorded:  # record before the client sees the end: nothing answered is lost
                        recorded = True
                        self._record(route, consumer, model, True, parser.status, parser.tokens)
                    if out:
                        await client.write(out)
                out = parser.close()
                if parser.done and not recorded:
                    recorded = True
                    self._record(route, consumer, model, True, parser.status, parser.tokens)
                if out:
                    await client.write(out)
                if not parser.done:
                    status = 502
                    await client.write(
                        error_event(f"Upstream '{upstream.name}' ended the stream early.", "upstream_stream_truncated")
                    )
        except ConnectionError as exc:
            if client is None and isinstance(exc, aiohttp.ClientError):
                return _failed(upstream, exc)  # the upstream connection reset before any answer
            status = 499  # the client went away mid-stream; leaving the block stopped the upstream too
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (handler cancellation): the upstream stream stops with us
            raise
        except aiohttp.ClientError as exc:
            if client is None:
                return _failed(upstream, exc)
            status = 504 if isinstance(exc, TimeoutError) else 502
            message = (
                _failure_message(upstream, exc)
                if status == 504
                else f"Upstream '{upstream.name}' broke the stream: {type(exc).__name__}."
            )
            with contextlib.suppress(ConnectionError):
                await client.write(error_event(message, "upstream_error"))
        finally:
            if client is not None and not recorded:
                self._record(route, consumer, model, True, status, parser.tokens)
        with contextlib.suppress(ConnectionError):
            await client.write_eof()
        return client

    async def _models(self, upstream: Upstream, headers: dict[str, str]) -> web.StreamResponse:
        if upstream.model is not None:
            listing = {"object": "list", "data": [{"id": upstream.model, "object": "model", "owned_by": upstream.name}]}
            return web.json_response(listing, dumps=lambda v: orjson.dumps(v).decode(), headers=headers)
        if not (upstream.gate.try_acquire() or await upstream.gate.acquire(upstream.pool_timeout_s)):
            return _busy(upstream)
        try:
            return await self._list_models(upstream, headers)
        finally:
            upstream.gate.release()

    async def _list_models(self, upstream: Upstream, headers: dict[str, str]) -> web.StreamResponse:
        call = upstream.provider.models_call()
        try:
            async with upstream.session.get(call.url, headers=call.headers, timeout=upstream.timeout) as response:
                body = await response.read()
                if response.status != 200:
                    return _upstream_error(upstream, response.status, response.content_type, body)
        except aiohttp.ClientError as exc:
            return _failed(upstream, exc)
        listing = upstream.provider.models(body)
        if listing is None:
            return error_response(
                502, f"Upstream '{upstream.name}' returned a model list it cannot read.", "upstream_invalid_response"
            )
        return web.Response(status=200, body=listing, content_type="application/json", headers=headers)

    def _record(
        self, route: CompiledRoute, consumer: str, model: str, stream: bool, status: int, tokens: Tokens | None
    ) -> None:
        """The log phase: accounting never fails a response, whatever the upstream sent."""
        if not route.usage:
            return
        try:
            self.usage.record(consumer, route.name, model, stream, status, tokens or NO_TOKENS)
        except Exception:
            log.exception("could not record usage for consumer %r on route %r", consumer, route.name)


async def _read_json_object(request: web.BaseRequest, limit: int) -> dict[str, Any]:
    too_large = BadRequest(413, f"Request body is larger than this gateway's limit of {limit} bytes.", "body_too_large")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    expect = request.headers.get("Expect")
    if expect is not None:
        if expect.lower() != "100-continue":
            raise BadRequest(417, f"Only 'Expect: 100-continue' is supported, not {expect[:40]!r}.", "expectation")
        if request.version >= (1, 1):
            await request.writer.write(_CONTINUE)  # the client waits for this before it sends the body
    raw = bytearray()
    async for chunk in request.content.iter_any():
        raw += chunk
        if len(raw) > limit:
            raise too_large
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, f"Request body is not valid JSON: {exc}.", "invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "Request body must be a JSON object.", "invalid_json")
    return body


def _prepare_chat(body: dict[str, Any], route: CompiledRoute) -> tuple[str, bool, bool, bool]:
    """Check the fields the gateway relies on and apply the route's upstream settings; returns (model, stream,
    include_usage: the client asked for the usage chunk, hide_usage: the gateway asked a relay for it instead)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(
            400, "'messages' must be a non-empty array of chat messages.", "invalid_request", param="messages"
        )
    upstream = route.upstream
    if upstream.model is not None:
        body["model"] = upstream.model
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest(400, "'model' must be a non-empty string.", "invalid_request", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest(400, f"'stream' must be true or false, got {stream!r:.40}.", "invalid_request", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest(400, "'stream_options' must be an object.", "invalid_request", param="stream_options")
    include_usage = bool(options and options.get("include_usage"))
    hide_usage = stream and route.include_usage_in_streams and not include_usage and upstream.provider.relay
    if hide_usage:
        body["stream_options"] = {**(options or {}), "include_usage": True}
    return model, stream, include_usage, hide_usage


def _copy_headers(response: aiohttp.ClientResponse, headers: dict[str, str]) -> None:
    for name in _PASS_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            headers[name] = value


def _upstream_error(upstream: Upstream, status: int, content_type: str, body: bytes) -> web.Response:
    """An upstream's error, in the gateway's shape (the provider's adapter maps it)."""
    error = upstream.provider.error(status, content_type, body)
    if error.body is not None:
        return web.Response(status=error.status, body=error.body, content_type="application/json")
    if error.code == "upstream_error":
        log.warning("upstream %r answered %d with %d bytes of %s", upstream.name, status, len(body), content_type)
    return error_response(error.status, error.message, error.code)


def _failure_message(upstream: Upstream, exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"Upstream '{upstream.name}' did not accept a connection within {upstream.connect_timeout_s:g}s."
    if isinstance(exc, TimeoutError):
        return f"Upstream '{upstream.name}' sent nothing for {upstream.read_timeout_s:g}s (read_timeout_s)."
    return f"Upstream '{upstream.name}' is unreachable: {type(exc).__name__}."


def _failed(upstream: Upstream, exc: aiohttp.ClientError) -> web.Response:
    """Before any byte reached the client: 504 for the upstream's timeouts, 502 for every other failure."""
    if isinstance(exc, TimeoutError):
        return error_response(504, _failure_message(upstream, exc), "upstream_timeout")
    return error_response(502, _failure_message(upstream, exc), "upstream_unreachable")


def _busy(upstream: Upstream) -> web.Response:
    return error_response(
        503,
        f"Upstream '{upstream.name}' has {upstream.gate.limit} requests in flight (its max_connections) and none "
        f"finished within its pool_timeout_s of {upstream.pool_timeout_s:g}s; retry, or raise max_connections.",
        "upstream_busy",
        headers={"Retry-After": "1"},
    )
