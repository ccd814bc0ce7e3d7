"""error_template (per gateway or route): the gateway's own error bodies rendered from a template (sdk/templates.py's
sandbox) instead of the client API's shape, as a Kong plugin's custom error body does. Answers the same call as
`ClientApi.error`, so the proxy uses whichever applies."""

from __future__ import annotations

import secrets

from aiohttp import web
from lockgate.gateway_runtime.data.errors import error_type
from lockgate.sdk import ErrorTemplate
from lockgate.sdk.policies import MAX_ERROR_BODY
from lockgate.sdk.templates import TemplateError, compile_template, render


class ErrorTemplatePolicy:
    name = "error_template"

    def __init__(self, spec: ErrorTemplate) -> None:
        assert spec.body is not None  # the model requires it when enabled
        self._template = compile_template(spec.body)
        self._content_type = spec.content_type

    def error(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        request_id = secrets.token_hex(8)
        given = {"status": status, "code": code, "message": message, "type": error_type(status), "param": param}
        try:
            body = render(self._template, given | {"request_id": request_id}, MAX_ERROR_BODY)
        except TemplateError:  # checked with a sample when the config was validated; a message cannot break it
            body = message
        out = {**(headers or {}), "x-request-id": request_id}
        return web.Response(status=status, text=body, content_type=self._content_type, headers=out)
