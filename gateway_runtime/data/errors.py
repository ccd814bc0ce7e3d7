"""The gateway's one error vocabulary, OpenAI's shape: `{"error": {"message", "type", "code", ...}}`, the type from
the status. The proxy's errors name the request's field as `param` (OpenAI's), the admin API's as `field` (a path
the Terraform provider attaches its diagnostic to; control/admin_errors.py). Anthropic's clients get theirs in
their own shape (clients/anthropic_messages.py)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

# status -> OpenAI error type
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "method_not_allowed",
    408: "invalid_request_error",
    413: "invalid_request_error",
    414: "invalid_request_error",
    409: "conflict_error",
    417: "invalid_request_error",
    422: "invalid_request_error",
    431: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "upstream_busy",
    504: "upstream_timeout",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error")


def error_object(status: int, message: str, code: str | None, **where: Any) -> dict[str, Any]:
    return {"message": message, "type": error_type(status), "code": code, **where}


def error_body(status: int, message: str, code: str, param: str | None = None) -> bytes:
    return orjson.dumps({"error": error_object(status, message, code, param=param)})


def error_response(
    status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=error_body(status, message, code, param), content_type="application/json", headers=headers
    )


def error_event(message: str, code: str) -> bytes:
    """An SSE event that ends a broken stream; the OpenAI SDK raises it as an APIError."""
    return b"data: " + error_body(502, message, code) + b"\n\n"
