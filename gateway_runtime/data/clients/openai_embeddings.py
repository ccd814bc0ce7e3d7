"""OpenAI's embeddings API for clients (`POST .../embeddings`): relayed to OpenAI's and every compatible server's,
Azure OpenAI's deployments; translated to Gemini's, Cohere's and Bedrock's own (providers/embeddings.py). Anthropic
has none: 400, naming why.

Wire format: https://platform.openai.com/docs/api-reference/embeddings (`model`, `input`: a string, an array of
strings or of token arrays; the answer's `data[].embedding` and `usage.prompt_tokens`, `usage.total_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lockgate.gateway_runtime.data.clients.base import Prepared, Said, invalid
from lockgate.gateway_runtime.data.clients.openai_chat import OpenAiChat
from lockgate.gateway_runtime.data.providers.base import TranslationError
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.upstream import Upstream

FORMAT = "openai-embeddings"


class OpenAiEmbeddings(OpenAiChat):
    """OpenAI's own format on both sides, like OpenAiChat: answers and errors pass as they are."""

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

    def texts(self, body: dict[str, Any]) -> Iterator[Said]:
        given = body["input"]
        if isinstance(given, str):
            yield Said("user", "input", given)
        else:
            yield from (Said("user", f"input[{i}]", text) for i, text in enumerate(given) if isinstance(text, str))

    def decorate(self, body: dict[str, Any], before: list[tuple[str, str]], after: list[tuple[str, str]]) -> None:
        """Embeddings have no messages to add to: the input is embedded as it was sent."""

    def map_texts(self, body: dict[str, Any], change: Callable[[str], str]) -> None:
        given = body["input"]
        body["input"] = (
            change(given) if isinstance(given, str) else [change(t) if isinstance(t, str) else t for t in given]
        )

    def map_answer(self, answer: bytes, change: Callable[[str], str]) -> bytes:
        return answer  # vectors: no text

    def unified(self, body: dict[str, Any]) -> dict[str, Any]:
        raise TranslationError(
            "This route's upstream has no embeddings API (Anthropic has none): send embeddings to a route whose "
            "upstream is openai, azure, gemini, cohere or bedrock.",
            "model",
        )
