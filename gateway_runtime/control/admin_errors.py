"""The admin API's error contract: every error is `{"error": {"message", "type", "code", "field"}}` (the gateway's
one vocabulary, data/errors.py).

That holds for what FastAPI and Starlette answer themselves (unknown paths, wrong methods with an `Allow` header that
lists every method the path has, bodies that are not JSON), for changes the gateway's mode refuses (405, with an
`Allow` that lists the path's reads: a DB-less gateway's entities), and for requests refused before their body is
read: a request without the admin token gets 401, and a body over MAX_BODY_BYTES gets 413, without reading it.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from lockgate.gateway_runtime.control.service import ChangeRejected
from lockgate.gateway_runtime.data.errors import error_object
from lockgate.sdk.problems import problems_of
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 32 << 20
_READS = frozenset({"GET", "HEAD"})
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def error_response(
    status: int,
    message: str,
    field: list[str | int] | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": error_object(status, message, code, field=field)}, status_code=status, headers=headers
    )


def _not_json() -> JSONResponse:
    return error_response(
        400, "the request body is not valid UTF-8 JSON: send a JSON object with 'Content-Type: application/json'"
    )


def _body_model(request: Request) -> type[BaseModel] | None:
    field = getattr(request.scope.get("route"), "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def describe_validation(exc: RequestValidationError, model: type[BaseModel] | None) -> JSONResponse:
    errors = exc.errors()
    first = errors[0]
    if first["type"] == "json_invalid" or isinstance(first.get("input"), bytes):
        return _not_json()
    in_body = [dict(e, loc=tuple(e["loc"][1:])) for e in errors if e["loc"][:1] == ("body",)]
    others = [dict(e, loc=tuple(e["loc"])) for e in errors if e["loc"][:1] != ("body",)]
    problems = problems_of(in_body, model) + problems_of(others, None)
    problem = problems[0]
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    where = str(problem) if problem.loc else f"body: {problem.message}"
    return error_response(422, where + more, list(problem.loc))


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the OpenAPI document lists for `path` (Starlette's own Allow names only the first route's)."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ChangeRejected)
    async def _rejected(request: Request, exc: ChangeRejected) -> JSONResponse:
        if exc.status == 405:  # the gateway's mode refuses changes: it still answers the path's reads
            allowed = [m for m in _allowed_methods(app, request.url.path) if m in _READS]
            return error_response(405, exc.message, exc.field, headers={"Allow": ", ".join(allowed)})
        return error_response(exc.status, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return describe_validation(exc, _body_model(request))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, f"no such admin API path: {request.url.path}; see /openapi.json")
        if exc.status_code == 405:
            allowed = _allowed_methods(app, request.url.path)
            return error_response(
                405,
                f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        if exc.status_code == 400:  # FastAPI's "There was an error parsing the body"
            return _not_json()
        return error_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


class AdminGate:
    """ASGI middleware: refuse a request without the admin token, or with too large a body, before reading it.
    `limits` raises the body limit of some paths (a consumer batch)."""

    def __init__(self, app: ASGIApp, token: str, limits: dict[str, int] | None = None) -> None:
        self.app, self._token, self._limits = app, token.encode(), limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["path"] not in PUBLIC_PATHS and not self._authorized(headers.get(b"authorization", b"")):
            await _send(scope, receive, send, error_response(401, _UNAUTHORIZED))
            return
        limit = self._limits.get(scope["path"], MAX_BODY_BYTES)
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await _send(scope, receive, send, _too_large(limit))
            return
        await self.app(scope, _bounded(receive, limit), send)

    def _authorized(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._token)


_UNAUTHORIZED = "missing or wrong admin token: send 'Authorization: Bearer <admin token>'"


def _too_large_message(limit: int) -> str:
    return f"the request body is larger than the admin API's limit of {limit} bytes for this path"


def _too_large(limit: int) -> JSONResponse:
    return error_response(413, _too_large_message(limit))


def _bounded(receive: Receive, limit: int) -> Receive:
    """A receive that stops a chunked body at `limit` (Content-Length was checked up front)."""
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:  # an HTTPException passes FastAPI's body reading as it is: answered as 413
            raise HTTPException(413, _too_large_message(limit))
        return message

    return bounded


async def _send(scope: Scope, receive: Receive, send: Send, response: Any) -> None:
    await response(scope, receive, send)
