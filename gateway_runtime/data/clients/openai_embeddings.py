"""OpenAI's embeddings API for clients (`POST .../embeddings`), relayed to the upstreams that have it: OpenAI's and
every compatible server's, Azure OpenAI's deployments. Others answer 400, naming why.

Wire format: https://platform.openai.com/docs/api-reference/embeddings (`model`, `input`: a string, an array of
strings or of token arrays; the answer's `data[].embedding` and `usage.prompt_tokens`, `usage.total_tokens`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lockgate.gateway_runtime.data.clients.base import Prepared, invalid
from lockgate.gateway_runtime.data.errors import error_event, error_response
from lockgate.gateway_runtime.data.providers.base import StreamParser, TranslationError
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.upstream import Upstream

FORMAT = "openai-embeddings"


class OpenAiEmbeddings:
    format = FORMAT

    def prepare(self, body: dict[str, Any], route: CompiledRoute, upstream: Upstream) -> Prepared:
        given = body.get("input")
        if not (isinstance(given, str) and given) and not (isinstance(given, list) and given):
            raise invalid("'input' must be a non-empty string or array.", "input")
        if upstream.model is not None:
            body["model"] = upstream.model
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("'model' must be a non-empty string.", "model")
        return Prepared(model, stream=False, include_usage=False, hide_usage=False)

    def unified(self, body: dict[str, Any]) -> dict[str, Any]:
        raise TranslationError(
            "This route's upstream has no embeddings API: the gateway relays embeddings to openai and azure upstreams.",
            "model",
        )

    def answer(self, completion: bytes) -> bytes:
        return completion

    def stream(self, parser: StreamParser) -> StreamParser:
        return parser

    def error(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return error_response(status, message, code, param, headers)

    def error_event(self, message: str, code: str) -> bytes:
        return error_event(message, code)
