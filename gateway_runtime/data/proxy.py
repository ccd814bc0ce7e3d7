"""The data plane: the client APIs (OpenAI chat completions, Anthropic Messages) and the model list, proxied to each
route's upstream through its provider adapter."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from lockgate.gateway_runtime.data import estimate
from lockgate.gateway_runtime.data.budgets import BudgetTable
from lockgate.gateway_runtime.data.clients import CLIENT_APIS, OPENAI
from lockgate.gateway_runtime.data.clients.base import BadRequest, ClientApi, Prepared
from lockgate.gateway_runtime.data.errors import error_response
from lockgate.gateway_runtime.data.http import ProxyServer
from lockgate.gateway_runtime.data.identities import KeyDelta
from lockgate.gateway_runtime.data.limits import FixedWindowLimiter, Limiter
from lockgate.gateway_runtime.data.pipeline import request_chain, run_access, run_request
from lockgate.gateway_runtime.data.policies import RequestContext, Respond
from lockgate.gateway_runtime.data.policies.base import AnswerFilter
from lockgate.gateway_runtime.data.policies.rate_limit import reserve
from lockgate.gateway_runtime.data.prices import PriceTable
from lockgate.gateway_runtime.data.providers.base import Provider, TranslationError, UpstreamCall
from lockgate.gateway_runtime.data.snapshot import CompiledRoute, Snapshot
from lockgate.gateway_runtime.data.upstream import Upstream, UpstreamPool
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens
from lockgate.gateway_runtime.data.usage_log import UsageLog

log = logging.getLogger("lockgate.proxy")
ANONYMOUS = "anonymous"
_PASS_HEADERS = ("x-request-id", "openai-processing-ms")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(slots=True)
class Exchange:
    """One request on its way through: its route, its client API, the provider adapter that serves it (a native
    relay, or the upstream's adapter behind a translation) and what the request said."""

    route: CompiledRoute
    upstream: Upstream  # the route's, or its model alias's
    api: ClientApi
    provider: Provider
    translated: bool
    prepared: Prepared
    consumer: str
    body: dict[str, Any]  # as the client sent it (checked): read again only to estimate a prompt nobody counted
    prices: PriceTable
    spent: Tokens = NO_TOKENS  # what the answer used (the log phase sets it), charged to the budgets
    cost_micros: int = 0
    context: RequestContext | None = None  # what the request phase left for the answer (filters) and the log

    @property
    def filters(self) -> list[AnswerFilter]:
        return self.context.answer_filters if self.context is not None else []

    def edit_headers(self, headers: dict[str, str]) -> None:
        """response_transform's edits, on an answer's headers."""
        if self.context is not None:
            for edit in self.context.header_edits:
                edit(headers)

    def fail(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
        return (self.route.errors or self.api).error(status, message, code, headers=headers)

    def upstream_error(self, status: int, content_type: str, body: bytes) -> web.Response:
        """An upstream's error, in the client API's shape (the provider's adapter maps it; a relay's passes)."""
        error = self.provider.error(status, content_type, body)
        if error.body is not None and not self.translated:
            return web.Response(status=error.status, body=error.body, content_type="application/json")
        if error.code == "upstream_error":
            name = self.upstream.name
            log.warning("upstream %r answered %d with %d bytes of %s", name, status, len(body), content_type)
        return self.fail(error.status, error.message, error.code)


class DataPlane:
    """Serves from the current snapshot; `install` swaps it atomically (a request keeps the one it started with)."""

    def __init__(
        self,
        snapshot: Snapshot,
        pool: UpstreamPool,
        usage: UsageLog,
        limiter: Limiter | None = None,
        budgets: BudgetTable | None = None,
    ) -> None:
        self.install(snapshot)
        self.pool = pool
        self.usage = usage
        self.limiter: Limiter = limiter or FixedWindowLimiter()
        self.budgets = budgets or BudgetTable()

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
            fail = snapshot.errors.error if snapshot.errors else error_response
            return fail(404, f"No route matches {request.method} {request.path}.", "route_not_found")
        route = match.route
        api = CLIENT_APIS.get(match.operation) if request.method == "POST" else None
        errors = route.errors or api or OPENAI  # who answers the gateway's own errors: the template or the API
        if api is None and (match.operation, request.method) != ("models", "GET"):
            return errors.error(
                404,
                f"Route '{route.name}' serves POST .../chat/completions, POST .../messages, POST .../embeddings and "
                f"GET .../models, not {request.method} {match.rest}.",
                "operation_not_found",
            )
        access = run_access(snapshot, route, request.headers, self.limiter)
        if isinstance(access, Respond):
            return errors.error(access.status, access.message, access.code, headers=access.headers)
        consumer = access.consumer.name if access.consumer else ANONYMOUS
        if api is None:
            return await self._models(route, access.response_headers, errors.error)
        try:
            body = await _read_json_object(request, snapshot.settings.max_body_bytes)
            policies = request_chain(snapshot, route, access.consumer)
            context = RequestContext(api, body, access.consumer, request.headers) if policies else None
            if context is not None and policies.sent:  # the request phase, on the body as sent
                decided = run_request(policies.sent, context)
                if decided is not None:
                    return errors.error(decided.status, decided.message, decided.code, decided.param, decided.headers)
            upstream = _chosen(route, body)
            native = upstream.provider.native(api.format)
            prepared = api.prepare(body, route, upstream)
            if context is not None and policies.checked:  # ... and on the checked body
                decided = run_request(policies.checked, context)
                if decided is not None:
                    _log_redacted(route, consumer, context)
                    return errors.error(decided.status, decided.message, decided.code, decided.param, decided.headers)
            call = (native or upstream.provider).chat_call(body if native else api.unified(body), prepared.stream)
            if context is not None and context.upstream_headers:  # request_transform's; the adapter's own win
                call = dataclasses.replace(call, headers={**context.upstream_headers, **call.headers})
        except BadRequest as exc:
            return errors.error(exc.status, exc.message, exc.code, exc.param, exc.headers)
        except TranslationError as exc:
            return errors.error(400, exc.message, "invalid_request", exc.param)
        exchange = Exchange(
            route, upstream, api, native or upstream.provider, native is None, prepared, consumer, body, snapshot.prices
        )
        exchange.context = context
        holds = None
        if access.consumer is not None and access.consumer.budgets:  # rate_limit's token limits and cost budgets
            reserved = reserve(
                self.budgets,
                access,
                access.consumer.budgets,
                body,
                prepared.model,
                snapshot.prices,
                snapshot.settings.completion_reserve_tokens,
            )
            if isinstance(reserved, Respond):
                return exchange.fail(reserved.status, reserved.message, reserved.code, reserved.headers)
            holds = reserved
        try:
            if not (upstream.gate.try_acquire() or await upstream.gate.acquire(upstream.pool_timeout_s)):
                return exchange.fail(*_busy(upstream), {"Retry-After": "1"})
            try:
                if prepared.stream:
                    return await self._stream(request, exchange, call, access.response_headers)
                return await self._complete(exchange, call, access.response_headers)
            finally:
                upstream.gate.release()
        finally:
            if holds:  # reconcile: release the estimate, charge what the provider counted (0 if it never answered)
                self.budgets.settle(holds, exchange.spent.total, exchange.cost_micros)

    async def _complete(self, ex: Exchange, call: UpstreamCall, headers: dict[str, str]) -> web.StreamResponse:
        upstream = ex.upstream
        try:
            async with upstream.session.post(
                call.url, data=call.payload, headers=call.headers, timeout=upstream.timeout
            ) as response:
                body = await response.read()
                status = response.status
                content_type = response.content_type if status != 200 else ""  # parsed only for an error
                _copy_headers(response, headers)
        except aiohttp.ClientError as exc:
            return ex.fail(*_failure(upstream, exc))
        if status != 200:
            self._record(ex, False, status, None)
            return ex.upstream_error(status, content_type, body)
        completion = ex.provider.completion(body, ex.prepared.model)
        if completion is None:
            message = f"Upstream '{upstream.name}' returned a response that is not a valid answer."
            return ex.fail(502, message, "upstream_invalid_response")
        answer = ex.api.answer(completion.body) if ex.translated else completion.body
        for answer_filter in ex.filters:
            answer = ex.api.map_answer(answer, answer_filter.whole)
        self._record(ex, False, status, completion.tokens, answer=answer)
        ex.edit_headers(headers)
        return web.Response(status=status, body=answer, content_type="application/json", headers=headers)

    async def _stream(
        self, request: web.BaseRequest, ex: Exchange, call: UpstreamCall, headers: dict[str, str]
    ) -> web.StreamResponse:
        upstream = ex.upstream
        prepared = ex.prepared
        parser = ex.provider.stream_parser(prepared.model, prepared.include_usage, prepared.hide_usage)
        if ex.translated:
            parser = ex.api.stream(parser)
        for answer_filter in ex.filters:
            parser = ex.api.map_stream(parser, answer_filter.hold)
        client: web.StreamResponse | None = None
        status, recorded, events = 200, False, 0
        try:
            async with upstream.session.post(
                call.url, data=call.payload, headers=call.headers, timeout=upstream.timeout
            ) as response:
                if response.status != 200 or response.content_type != ex.provider.stream_type:
                    body = await response.read()
                    if response.status == 200:
                        message = f"Upstream '{upstream.name}' answered a stream request without an event stream."
                        return ex.fail(502, message, "upstream_invalid_response")
                    self._record(ex, True, response.status, None)
                    return ex.upstream_error(response.status, response.content_type, body)
                _copy_headers(response, headers)
                ex.edit_headers(headers)
                client = web.StreamResponse(status=200, headers=headers)
                client.content_type = "text/event-stream"
                client.headers["Cache-Control"] = "no-cache"
                await client.prepare(request)
                async for chunk in response.content.iter_any():
                    out = parser.feed(chunk)
                    if parser.done and not recorded:  # record before the client sees the end: nothing answered is lost
                        recorded = True
                        self._record(ex, True, parser.status, parser.tokens, events=events)
                    if out:
                        events += out.count(b"\n\n")
                        await client.write(out)
                out = parser.close()
                if parser.done and not recorded:
                    recorded = True
                    self._record(ex, True, parser.status, parser.tokens, events=events)
                if out:
                    await client.write(out)
                if not parser.done:
                    status = 502
                    message = f"Upstream '{upstream.name}' ended the stream early."
                    await client.write(ex.api.error_event(message, "upstream_stream_truncated"))
        except ConnectionError as exc:
            if client is None and isinstance(exc, aiohttp.ClientError):
                return ex.fail(*_failure(upstream, exc))  # the upstream connection reset before any answer
            status = 499  # the client went away mid-stream; leaving the block stopped the upstream too
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (handler cancellation): the upstream stream stops with us
            raise
        except aiohttp.ClientError as exc:
            if client is None:
                return ex.fail(*_failure(upstream, exc))
            status = 504 if isinstance(exc, TimeoutError) else 502
            message = (
                _failure(upstream, exc)[1]
                if status == 504
                else f"Upstream '{upstream.name}' broke the stream: {type(exc).__name__}."
            )
            with contextlib.suppress(ConnectionError):
                await client.write(ex.api.error_event(message, "upstream_error"))
        finally:
            if client is not None and not recorded:  # cut short: what the provider said, the rest estimated
                self._record(ex, True, status, parser.tokens, cut=True, events=events)
        with contextlib.suppress(ConnectionError):
            await client.write_eof()
        return client

    async def _models(
        self, route: CompiledRoute, headers: dict[str, str], fail: Callable[..., web.Response]
    ) -> web.StreamResponse:
        """What the caller may ask for: the route's aliases, its upstream's fixed model, or its upstream's list."""
        upstream = route.upstream
        if route.aliases is not None or upstream.model is not None:
            if route.aliases is not None:
                named = [(name, alias.name) for name, (alias, _) in route.aliases.items()]
            else:
                named = [(str(upstream.model), upstream.name)]
            data = [{"id": name, "object": "model", "owned_by": owner} for name, owner in named]
            return web.json_response({"object": "list", "data": data}, dumps=_json, headers=headers)
        if not (upstream.gate.try_acquire() or await upstream.gate.acquire(upstream.pool_timeout_s)):
            return fail(*_busy(upstream), headers={"Retry-After": "1"})
        try:
            return await self._list_models(upstream, headers, fail)
        finally:
            upstream.gate.release()

    async def _list_models(
        self, upstream: Upstream, headers: dict[str, str], fail: Callable[..., web.Response]
    ) -> web.StreamResponse:
        call = upstream.provider.models_call()
        try:
            async with upstream.session.get(call.url, headers=call.headers, timeout=upstream.timeout) as response:
                body = await response.read()
                if response.status != 200:
                    error = upstream.provider.error(response.status, response.content_type, body)
                    return fail(error.status, error.message, error.code)
        except aiohttp.ClientError as exc:
            return fail(*_failure(upstream, exc))
        listing = upstream.provider.models(body)
        if listing is None:
            return fail(
                502, f"Upstream '{upstream.name}' returned a model list it cannot read.", "upstream_invalid_response"
            )
        return web.Response(status=200, body=listing, content_type="application/json", headers=headers)

    def _record(
        self,
        ex: Exchange,
        stream: bool,
        status: int,
        tokens: Tokens | None,
        cut: bool = False,
        events: int = 0,
        answer: bytes | None = None,
    ) -> None:
        """The log phase: accounting never fails a response, whatever the upstream sent. An answer the provider did
        not count (`cut` short, or no usage in it) is recorded with the gateway's estimate, marked so; an error the
        provider answered (`tokens` None, not cut, no answer) used nothing."""
        if ex.context is not None:
            _log_redacted(ex.route, ex.consumer, ex.context)
        try:
            answered = status == 200 and (answer is not None or stream)
            guess = cut or (answered and (tokens is None or tokens.total == 0))
            if guess:
                completion = estimate.answer_tokens(answer) if answer is not None else max(events - 1, 0)
                tokens = estimate.estimated(tokens, estimate.prompt_tokens(ex.body), completion)
            tokens = tokens or NO_TOKENS
            cost = ex.prices.cost_micros(ex.prepared.model, tokens)
            ex.spent, ex.cost_micros = tokens, cost
            if ex.route.usage:
                self.usage.record(ex.consumer, ex.route.name, ex.prepared.model, stream, status, tokens, guess, cost)
        except Exception:
            log.exception("could not record usage for consumer %r on route %r", ex.consumer, ex.route.name)


def _log_redacted(route: CompiledRoute, consumer: str, context: RequestContext) -> None:
    """What PII redaction found, by kind (never the values)."""
    if context.redacted:
        found = ", ".join(f"{kind}={count}" for kind, count in sorted(context.redacted.items()))
        log.info("pii on route %r for consumer %r: %s", route.name, consumer, found)


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


def _copy_headers(response: aiohttp.ClientResponse, headers: dict[str, str]) -> None:
    for name in _PASS_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            headers[name] = value


def _chosen(route: CompiledRoute, body: dict[str, Any]) -> Upstream:
    """The upstream for the request: the route's, or (when the route has model aliases) the alias's, with the
    body's model set to the alias's model."""
    if route.aliases is None:
        return route.upstream
    asked = body.get("model")
    alias = route.aliases.get(asked) if isinstance(asked, str) else None
    if alias is None:
        names = ", ".join(sorted(route.aliases)[:20])
        raise BadRequest(
            404, f"Route '{route.name}' has no model {asked!r:.80}: ask for one of {names}.", "model_not_found", "model"
        )
    upstream, body["model"] = alias
    return upstream


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _failure(upstream: Upstream, exc: aiohttp.ClientError) -> tuple[int, str, str]:
    """Before any byte reached the client: 504 for the upstream's timeouts, 502 for every other failure."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        message = f"Upstream '{upstream.name}' did not accept a connection within {upstream.connect_timeout_s:g}s."
    elif isinstance(exc, TimeoutError):
        message = f"Upstream '{upstream.name}' sent nothing for {upstream.read_timeout_s:g}s (read_timeout_s)."
    else:
        return 502, f"Upstream '{upstream.name}' is unreachable: {type(exc).__name__}.", "upstream_unreachable"
    return 504, message, "upstream_timeout"


def _busy(upstream: Upstream) -> tuple[int, str, str]:
    return (
        503,
        f"Upstream '{upstream.name}' has {upstream.gate.limit} requests in flight (its max_connections) and none "
        f"finished within its pool_timeout_s of {upstream.pool_timeout_s:g}s; retry, or raise max_connections.",
        "upstream_busy",
    )
