"""Google Gemini (the Gemini API's `generateContent`), translated to and from OpenAI's chat completions.

Wire format: https://ai.google.dev/api/generate-content (POST `{base}/models/{model}:generateContent`, and
`:streamGenerateContent?alt=sse` for a stream of `GenerateContentResponse` events that ends when the connection
does; the key in `x-goog-api-key`; `contents` of `user`/`model` turns with `parts` (`text`, `inlineData`,
`fileData`, `functionCall`, `functionResponse`), `systemInstruction`, `tools[].functionDeclarations`,
`toolConfig.functionCallingConfig`, `generationConfig`; `candidates[].finishReason`; `usageMetadata` with
`promptTokenCount`, `candidatesTokenCount`, `cachedContentTokenCount`, `thoughtsTokenCount`), its errors
https://ai.google.dev/gemini-api/docs/troubleshooting (`{"error": {"code", "message", "status"}}`; a bad key is
a 400 INVALID_ARGUMENT with reason API_KEY_INVALID) and its model list https://ai.google.dev/api/models.
Embeddings: https://ai.google.dev/api/embeddings (POST `{base}/models/{model}:batchEmbedContents` with `requests[]`
of `{model, content: {parts: [{text}]}, outputDimensionality}`; the answer's `embeddings[].values`, and
`usageMetadata.promptTokenCount` where the API sends it; otherwise the record is the gateway's estimate).

OpenAI counts reasoning inside `completion_tokens`: here that is `candidatesTokenCount + thoughtsTokenCount`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
from lockgate.gateway_runtime.data.providers.base import (
    Completion,
    TranslationError,
    UpstreamCall,
    UpstreamError,
    credentials_rejected,
    unreadable_error,
)
from lockgate.gateway_runtime.data.providers.embeddings import EmbeddingsTranslator, vectors_of
from lockgate.gateway_runtime.data.providers.translate import (
    StreamTranslator,
    calls,
    chat_completion,
    functions,
    json_of,
    max_tokens,
    model_list,
    one_choice,
    parts,
    stop_sequences,
    text,
    tool_call,
)
from lockgate.gateway_runtime.data.sse import data_of
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens, count, usage_object
from lockgate.sdk import LlmUpstream

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}  # every other reason is a block: content_filter
_STATUSES = {400: 400, 404: 404, 413: 413, 429: 429, 500: 502, 503: 503, 504: 504}
_CONFIG = (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"))


def gemini_usage(raw: object, upstream: str) -> Tokens:
    usage = usage_object(raw, upstream)
    if usage is None:
        return NO_TOKENS
    prompt = count(usage, "promptTokenCount", upstream)
    thoughts = count(usage, "thoughtsTokenCount", upstream)
    completion = count(usage, "candidatesTokenCount", upstream) + thoughts
    cached = count(usage, "cachedContentTokenCount", upstream)
    return Tokens(prompt, completion, prompt + completion, cached, thoughts)


def generate_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as a generateContent request; TranslationError names what cannot be translated."""
    one_choice(body)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name: a functionResponse names its function
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise TranslationError(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content"), where))
        elif role == "user":
            contents.append({"role": "user", "parts": _parts(message.get("content"), where)})
        elif role == "assistant":
            made = calls(message, where)
            names.update((c.id, c.name) for c in made)
            uses = [{"functionCall": {"name": c.name, "args": c.arguments}} for c in made]
            contents.append({"role": "model", "parts": _parts(message.get("content"), where) + uses})
        elif role == "tool":
            name = names.get(str(message.get("tool_call_id")))
            if name is None:
                raise TranslationError(
                    f"'{where}.tool_call_id' must name a tool call of an earlier assistant message.",
                    f"{where}.tool_call_id",
                )
            result = {"name": name, "response": {"content": text(message.get("content"), where)}}
            contents.append({"role": "user", "parts": [{"functionResponse": result}]})
        else:
            raise TranslationError(f"'{where}.role' must be system, developer, user, assistant or tool.", where)
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    config = {name: body[openai_name] for openai_name, name in _CONFIG if body.get(openai_name) is not None}
    if max_tokens(body):
        config["maxOutputTokens"] = max_tokens(body)
    stops = stop_sequences(body)
    if stops:
        config["stopSequences"] = stops
    if config:
        request["generationConfig"] = config
    tools = functions(body)
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
        choice = _tool_config(body.get("tool_choice"))
        if choice is not None:
            request["toolConfig"] = {"functionCallingConfig": choice}
    return request


def _parts(content: object, where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts(content, where):
        if isinstance(part, str):
            out.append({"text": part})
        elif part.data is not None:
            out.append({"inlineData": {"mimeType": part.media_type, "data": part.data}})
        else:
            out.append({"fileData": {"mimeType": part.media_type, "fileUri": part.url}})
    return out


def _tool_config(choice: object) -> dict[str, Any] | None:
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    return None


def _candidate(response: dict[str, Any]) -> dict[str, Any]:
    candidates = response.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    return first if isinstance(first, dict) else {}


def _answer(candidate: dict[str, Any], first_call: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The text pieces and the tool calls (OpenAI's, numbered from `first_call`) of a candidate's parts."""
    content = candidate.get("content")
    texts: list[str] = []
    uses: list[dict[str, Any]] = []
    for part in content.get("parts") or () if isinstance(content, dict) else ():
        if not isinstance(part, dict) or part.get("thought"):
            continue  # a thought summary: OpenAI's format has no place for it
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            ident = call.get("id") or f"call_{first_call + len(uses)}"
            uses.append(tool_call(ident, call.get("name"), call.get("args")))
    return texts, uses


def _finish(reason: object, called: bool) -> str | None:
    if not isinstance(reason, str):
        return None
    finish = FINISH_REASONS.get(reason, "content_filter")
    return "tool_calls" if called and finish == "stop" else finish


class GeminiStream(StreamTranslator):
    """Translates a streamGenerateContent SSE stream into OpenAI chunks; the stream ends with the connection."""

    def __init__(self, upstream: str, model: str, include_usage: bool) -> None:
        super().__init__(upstream, model, include_usage)
        self._started, self._calls = False, 0
        self._finish: str | None = None

    def close(self) -> bytes:
        if self.done or self._finish is None:
            return b""  # ended early, or already failed: the caller says so
        return self._end()

    def _translate(self, event: bytes) -> bytes:
        response = data_of(event)
        if not isinstance(response, dict):
            return b""
        if isinstance(response.get("error"), dict):
            error = response["error"]
            message = f"Upstream '{self._upstream}' failed mid-stream: {str(error.get('message', ''))[:500]}"
            return self._fail(502, message, str(error.get("status") or "upstream_error"))
        if "usageMetadata" in response:  # each event's counts so far: the last one is the whole stream's
            self.tokens = gemini_usage(response["usageMetadata"], self._upstream)
        if not self._started:
            self._started = True
            self._chunks.base["id"] = response.get("responseId", "")
            out = self._chunks.delta({"role": "assistant", "content": ""})
        else:
            out = b""
        candidate = _candidate(response)
        texts, uses = _answer(candidate, self._calls)
        if texts:
            out += self._chunks.delta({"content": "".join(texts)})
        for use in uses:
            out += self._chunks.delta({"tool_calls": [{"index": self._calls, **use}]})
            self._calls += 1
        finish = _finish(candidate.get("finishReason"), self._calls > 0)
        if finish is not None and self._finish is None:
            self._finish = finish
            out += self._chunks.delta({}, finish)
        return out


class GeminiEmbeddings(EmbeddingsTranslator):
    _provider: GeminiProvider

    def call(self, texts: list[str], model: str, dimensions: int | None) -> UpstreamCall:
        model = model.removeprefix("models/")
        extra = {"outputDimensionality": dimensions} if dimensions else {}
        requests = [{"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra} for t in texts]
        url = f"{self._provider.base}/models/{quote(model, safe='')}:batchEmbedContents"
        return UpstreamCall(url, self._provider.headers, orjson.dumps({"requests": requests}))

    def read(self, answer: dict[str, Any]) -> tuple[list[list[float]], Tokens] | None:
        rows = answer.get("embeddings")
        vectors = vectors_of([r.get("values") for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None)
        if vectors is None:
            return None
        return vectors, gemini_usage(answer.get("usageMetadata"), self._provider.name)


class GeminiProvider:
    relay = False
    stream_type = "text/event-stream"

    def __init__(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> None:
        auth = secrets.get("auth")
        self.name = spec.name
        self.headers = {"Content-Type": "application/json"}
        if auth:
            self.headers["x-goog-api-key"] = auth
        self.base = spec.url
        self._embeddings = GeminiEmbeddings(self)

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        model = quote(str(body["model"]).removeprefix("models/"), safe="")
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{self.base}/models/{model}:{action}"
        return UpstreamCall(url, self.headers, orjson.dumps(generate_request(body)))

    def completion(self, body: bytes, model: str) -> Completion | None:
        response = json_of(body)
        if not isinstance(response, dict) or not isinstance(response.get("candidates"), list):
            return None
        tokens = gemini_usage(response.get("usageMetadata"), self.name)
        candidate = _candidate(response)
        texts, uses = _answer(candidate, 0)
        finish = _finish(candidate.get("finishReason"), bool(uses))
        answered = response.get("modelVersion") or model
        answer = chat_completion(response.get("responseId"), answered, texts, uses, finish, tokens)
        return Completion(orjson.dumps(answer), tokens)

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> GeminiStream:
        return GeminiStream(self.name, model, include_usage)

    def native(self, api: str) -> GeminiEmbeddings | None:
        return self._embeddings if api == "openai-embeddings" else None

    def models_call(self) -> UpstreamCall:
        return UpstreamCall(f"{self.base}/models?pageSize=1000", self.headers)

    def models(self, body: bytes) -> bytes | None:
        return model_list(body, "models", "name", "google", prefix="models/")

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        parsed = json_of(body)
        if isinstance(parsed, list) and parsed:  # a stream request's error comes as a one-element array
            parsed = parsed[0]
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if status in (401, 403) or (isinstance(error, dict) and "API_KEY_INVALID" in str(error.get("details"))):
            return credentials_rejected(self.name, status)
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return unreadable_error(self.name, status, content_type, body, "a Google JSON error")
        code = str(error.get("status") or "upstream_error")
        return UpstreamError(_STATUSES.get(status, 502), f"Upstream '{self.name}': {error['message'][:1000]}", code)
