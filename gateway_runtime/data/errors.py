"""OpenAI-style error responses for the proxy: `{"error": {"message", "type", "code", "param"}}`."""

from __future__ import annotations

import orjson
from aiohttp import web

# status -> OpenAI error type
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    414: "invalid_request_error",
    417: "invalid_request_error",
    431: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "upstream_busy",
    504: "upstream_timeout",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error")


def error_body(status: int, message: str, code: str, param: str | None = None) -> bytes:
    error = {"message": message, "type": error_type(status), "code": code, "param": param}
    return orjson.dumps({"error": error})


def error_response(
    status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=error_body(status, message, code, param), content_type="application/json", headers=headers
    )


def error_event(message: str, code: str) -> bytes:
    """An SSE event that ends a broken stream; the OpenAI SDK raises it as an APIError."""
    return b"data: " + error_body(502, message, code) + b"\n\n"
