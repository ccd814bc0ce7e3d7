"""OpenAI's embeddings API, as clients send it, served by a provider's own embeddings API (Gemini's, Cohere's,
Bedrock's): each provider says how to ask (`call`) and how to read the vectors and their usage (`read`); this module
checks the input and writes OpenAI's answer.

OpenAI's format: https://platform.openai.com/docs/api-reference/embeddings (`input`: a string or an array of
strings; `dimensions`; the answer's `data[].embedding` and `usage.prompt_tokens`). The answer's vectors are floats
even when the request asks `encoding_format: "base64"` (which the OpenAI SDKs send by default and accept floats
for); token-array inputs are OpenAI's own and are refused, naming the field.
"""

from __future__ import annotations

from typing import Any

import orjson
from lockgate.gateway_runtime.data.providers.base import (
    Completion,
    Provider,
    TranslationError,
    UpstreamCall,
    UpstreamError,
)
from lockgate.gateway_runtime.data.providers.translate import json_of
from lockgate.gateway_runtime.data.usage import Tokens

MAX_INPUTS = 2048  # OpenAI's own bound on inputs per request


def texts_of(body: dict[str, Any]) -> list[str]:
    given = body["input"]  # checked by the client API: a non-empty string or array
    texts = [given] if isinstance(given, str) else given
    if len(texts) > MAX_INPUTS:
        raise TranslationError(f"'input' holds at most {MAX_INPUTS} items; split the request.", "input")
    for index, item in enumerate(texts):
        if not isinstance(item, str) or not item:
            raise TranslationError(
                f"'input[{index}]' must be a non-empty string for this upstream (token arrays are OpenAI's own).",
                f"input[{index}]",
            )
    return texts


def dimensions_of(body: dict[str, Any]) -> int | None:
    dimensions = body.get("dimensions")
    if dimensions is None:
        return None
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions <= 0:
        raise TranslationError(f"'dimensions' must be a positive integer, got {dimensions!r:.40}.", "dimensions")
    return dimensions


def vectors_of(rows: object) -> list[list[float]] | None:
    """A non-empty list of vectors of numbers, or None."""
    if not isinstance(rows, list) or not rows:
        return None
    for row in rows:
        if not isinstance(row, list) or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in row):
            return None
    return rows


class EmbeddingsTranslator:
    """A Provider for client API 'openai-embeddings' (see `Provider.native`) over `provider`'s own embeddings API;
    a subclass writes `call` and `read`. Errors, like the model list, are the provider's."""

    relay = False
    stream_type = "application/json"  # never streamed

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    def call(self, texts: list[str], model: str, dimensions: int | None) -> UpstreamCall:
        raise NotImplementedError

    def read(self, answer: dict[str, Any]) -> tuple[list[list[float]], Tokens] | None:
        """The vectors, in input order, and what the provider counted (NO_TOKENS if it counts nothing), or None."""
        raise NotImplementedError

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        return self.call(texts_of(body), str(body["model"]), dimensions_of(body))

    def completion(self, body: bytes, model: str) -> Completion | None:
        answer = json_of(body)
        read = self.read(answer) if isinstance(answer, dict) else None
        if read is None:
            return None
        vectors, tokens = read
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        usage = {"prompt_tokens": tokens.prompt, "total_tokens": tokens.prompt}
        return Completion(orjson.dumps({"object": "list", "data": data, "model": model, "usage": usage}), tokens)

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> Any:
        raise AssertionError("embeddings are never streamed")

    def native(self, api: str) -> Provider | None:
        return self._provider.native(api)

    def models_call(self) -> UpstreamCall:
        return self._provider.models_call()

    def models(self, body: bytes) -> bytes | None:
        return self._provider.models(body)

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        return self._provider.error(status, content_type, body)
