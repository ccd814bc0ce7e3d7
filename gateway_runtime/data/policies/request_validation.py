"""request_validation (request phase, 800, on the body as the client sent it): a JSON Schema per scope, as Kong's
ai-request-validator does (https://developer.konghq.com/plugins/ai-request-validator/); compiled once
(sdk/body_schemas.py: offline, linear-time patterns). The first mismatch is the answer: 400 naming its JSON path and
what the schema expected."""

from __future__ import annotations

from lockgate.gateway_runtime.data.policies.base import RequestContext, Respond
from lockgate.sdk import RequestValidation
from lockgate.sdk.body_schemas import compile_schema, json_path

MAX_MESSAGE = 300  # the schema's words carry the value it refused: bounded


class RequestValidationPolicy:
    name = "request_validation"
    priority = 800
    phase = "sent"

    def __init__(self, spec: RequestValidation) -> None:
        assert spec.body_schema is not None  # the model requires it when enabled
        self._validator = compile_schema(spec.body_schema)

    def on_request(self, ctx: RequestContext) -> Respond | None:
        error = next(self._validator.iter_errors(ctx.body), None)
        if error is None:
            return None
        where = json_path(list(error.instance_path))
        message = f"Request body does not match this route's schema at {where}: {error.message}"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        return Respond(400, message, "invalid_request_body", where)
