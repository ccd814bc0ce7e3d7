"""AWS Bedrock's Converse API, translated to and from OpenAI's chat completions; requests SigV4-signed with
botocore's signer (or carrying a Bedrock API key as a bearer token).

Wire format: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html (POST
`/model/{modelId}/converse`; `messages` of `user`/`assistant` turns with `content` blocks `text`, `image` with
`source.bytes`, `toolUse`, `toolResult`; `system`; `inferenceConfig`; `toolConfig.tools[].toolSpec` and
`toolChoice`; `output.message`, `stopReason`, `usage` with `inputTokens`, `outputTokens`, `totalTokens`,
`cacheReadInputTokens`, `cacheWriteInputTokens`), its stream
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html (an
`application/vnd.amazon.eventstream` of `messageStart`, `contentBlockStart`, `contentBlockDelta`,
`contentBlockStop`, `messageStop`, `metadata` with the usage, and exception messages), the event stream encoding
https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream (decoded by
botocore's EventStreamBuffer), signing https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html and
errors https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html (`{"message": ...}`).
Embeddings by InvokeModel (POST `/model/{modelId}/invoke`, the model's own body): Amazon Titan's
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html (one `inputText`,
`dimensions`; the answer's `embedding` and `inputTextTokenCount`) and Cohere Embed's
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html (`texts`, `input_type`; the
answer's `embeddings`, no token count: the record is the gateway's estimate).

As for Anthropic's models, `inputTokens` leaves the cache out: OpenAI's `prompt_tokens` is `inputTokens` plus both
cache counts, `cached` is `cacheReadInputTokens`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
import yarl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError
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
from lockgate.gateway_runtime.data.sse import DONE_EVENT
from lockgate.gateway_runtime.data.usage import NO_TOKENS, Tokens, count, usage_object
from lockgate.sdk import LlmUpstream

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
_STATUSES = {400: 400, 404: 404, 408: 504, 413: 413, 424: 502, 429: 429, 500: 502, 503: 503}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def bedrock_usage(raw: object, upstream: str) -> Tokens:
    usage = usage_object(raw, upstream)
    if usage is None:
        return NO_TOKENS
    read = count(usage, "cacheReadInputTokens", upstream)
    prompt = count(usage, "inputTokens", upstream) + read + count(usage, "cacheWriteInputTokens", upstream)
    completion = count(usage, "outputTokens", upstream)
    return Tokens(prompt, completion, prompt + completion, read, 0)


def converse_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as a Converse request; TranslationError names what cannot be translated."""
    one_choice(body)
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise TranslationError(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_blocks(message.get("content"), where))
        elif role == "user":
            messages.append({"role": "user", "content": _blocks(message.get("content"), where)})
        elif role == "assistant":
            uses = [
                {"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}} for c in calls(message, where)
            ]
            messages.append({"role": "assistant", "content": _blocks(message.get("content"), where) + uses})
        elif role == "tool":
            answer = [{"text": text(message.get("content"), where) or " "}]  # Bedrock refuses a blank text
            result = {"toolUseId": str(message.get("tool_call_id", "")), "content": answer}
            messages.append({"role": "user", "content": [{"toolResult": result}]})
        else:
            raise TranslationError(f"'{where}.role' must be system, developer, user, assistant or tool.", where)
    request: dict[str, Any] = {"messages": messages}
    if system:
        request["system"] = system
    config = {name: body[key] for key, name in (("temperature", "temperature"), ("top_p", "topP")) if key in body}
    if max_tokens(body):
        config["maxTokens"] = max_tokens(body)
    stops = stop_sequences(body)
    if stops:
        config["stopSequences"] = stops
    if config:
        request["inferenceConfig"] = config
    tools = functions(body)
    if tools:
        specs = [
            {
                "toolSpec": {
                    **{k: v for k, v in t.items() if k != "parameters"},
                    "inputSchema": {"json": t["parameters"]},
                }
            }
            for t in tools
        ]
        request["toolConfig"] = {"tools": specs}
        choice = body.get("tool_choice")
        if choice == "required":
            request["toolConfig"]["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            request["toolConfig"]["toolChoice"] = {"tool": {"name": choice["function"].get("name")}}
    return request


def _blocks(content: object, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts(content, where):
        if isinstance(part, str):
            blocks.append({"text": part})
            continue
        image_format = _IMAGE_FORMATS.get(part.media_type)
        if part.data is None or image_format is None:
            raise TranslationError(
                f"'{where}.content' images go to Bedrock inline: a base64 data: URL of a PNG, JPEG, GIF or WebP.",
                f"{where}.content",
            )
        blocks.append({"image": {"format": image_format, "source": {"bytes": part.data}}})
    return blocks


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _finish(reason: object) -> str | None:
    return STOP_REASONS.get(reason, "content_filter") if isinstance(reason, str) else None


class ConverseStream(StreamTranslator):
    """Translates a ConverseStream event stream (binary frames, not SSE: its own `feed`) into OpenAI chunks as its
    messages arrive."""

    def __init__(self, upstream: str, model: str, include_usage: bool) -> None:
        super().__init__(upstream, model, include_usage)
        self._frames = EventStreamBuffer()
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._finished = False

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return b""
        self._frames.add_data(chunk)
        out = []
        try:
            for message in self._frames:
                out.append(self._message(message.headers, message.payload))
                if self.done:
                    break
        except ParserError as exc:
            out.append(
                self._fail(502, f"Upstream '{self._upstream}' sent a broken event stream: {exc}", "upstream_error")
            )
        return b"".join(out)

    def close(self) -> bytes:
        if self.done or not self._finished:
            return b""
        self.done = True  # ended after messageStop without its metadata: the answer is whole, its usage unknown
        return DONE_EVENT

    def _message(self, headers: Mapping[str, Any], payload: bytes) -> bytes:
        event = json_of(payload)
        if headers.get(":message-type") == "exception":
            message = event.get("message") if isinstance(event, dict) else None
            exception = str(headers.get(":exception-type", "exception"))
            status = 429 if exception.startswith("throttling") else 503 if "unavailable" in exception.lower() else 502
            return self._fail(status, f"Upstream '{self._upstream}' failed mid-stream: {str(message)[:500]}", exception)
        if not isinstance(event, dict):
            return b""
        kind = headers.get(":event-type")
        if kind == "contentBlockDelta":
            delta = _object(event.get("delta"))
            if isinstance(delta.get("text"), str):
                return self._chunks.delta({"content": delta["text"]})
            use = delta.get("toolUse")
            if isinstance(use, dict):
                position = self._tools.get(event.get("contentBlockIndex", 0), 0)
                return self._chunks.delta(
                    {"tool_calls": [{"index": position, "function": {"arguments": use.get("input", "")}}]}
                )
            return b""
        if kind == "messageStart":
            return self._chunks.delta({"role": "assistant", "content": ""})
        if kind == "contentBlockStart":
            start = _object(event.get("start"))
            use = start.get("toolUse")
            if not isinstance(use, dict):
                return b""
            position = self._tools[event.get("contentBlockIndex", 0)] = len(self._tools)
            call = {"index": position, **tool_call(use.get("toolUseId"), use.get("name"), "")}
            return self._chunks.delta({"tool_calls": [call]})
        if kind == "messageStop":
            self._finished = True
            return self._chunks.delta({}, _finish(event.get("stopReason")) or "stop")
        if kind == "metadata":
            self.tokens = bedrock_usage(event.get("usage"), self._upstream)
            return self._end()
        return b""  # contentBlockStop, and event types added later


class BedrockEmbeddings(EmbeddingsTranslator):
    """Titan's text embeddings (one input a request), or Cohere Embed's (`cohere.` models) on Bedrock."""

    _provider: BedrockProvider

    def call(self, texts: list[str], model: str, dimensions: int | None) -> UpstreamCall:
        body: dict[str, Any]
        if model.startswith("cohere."):
            body = {"texts": texts, "input_type": "search_document"}
        elif len(texts) > 1:
            message = f"Bedrock's Titan embeddings take one input a request, got {len(texts)}: send them one by one."
            raise TranslationError(message, "input")
        else:
            body = {"inputText": texts[0], **({"dimensions": dimensions} if dimensions else {})}
        return self._provider.invoke(model, body)

    def read(self, answer: dict[str, Any]) -> tuple[list[list[float]], Tokens] | None:
        if "embedding" in answer:  # Titan
            vectors = vectors_of([answer["embedding"]])
            prompt = count(answer, "inputTextTokenCount", self._provider.name)
            return (vectors, Tokens(prompt, 0, prompt)) if vectors else None
        vectors = vectors_of(answer.get("embeddings"))
        return (vectors, NO_TOKENS) if vectors else None


class BedrockProvider:
    relay = False
    stream_type = "application/vnd.amazon.eventstream"

    def __init__(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> None:
        assert spec.bedrock is not None  # the model requires it for this type
        self.name, self._base, self._region = spec.name, spec.url, spec.bedrock.region
        self._bearer = secrets.get("auth")
        self._credentials = None
        if self._bearer is None:
            self._credentials = Credentials(
                secrets["bedrock.access_key_id"],
                secrets["bedrock.secret_access_key"],
                secrets.get("bedrock.session_token"),
            )
        self._models_url = f"https://bedrock.{self._region}.amazonaws.com/foundation-models"
        self._embeddings = BedrockEmbeddings(self)

    def _signed(self, method: str, url: str, payload: bytes | None, service: str = "bedrock") -> UpstreamCall:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._bearer is not None:
            return UpstreamCall(
                yarl.URL(url, encoded=True), {**headers, "Authorization": f"Bearer {self._bearer}"}, payload
            )
        request = AWSRequest(method=method, url=url, data=payload or b"", headers=headers)
        SigV4Auth(self._credentials, service, self._region).add_auth(request)
        return UpstreamCall(yarl.URL(url, encoded=True), dict(request.headers.items()), payload)

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        model = quote(str(body["model"]), safe="")
        url = f"{self._base}/model/{model}/{'converse-stream' if stream else 'converse'}"
        return self._signed("POST", url, orjson.dumps(converse_request(body)))

    def completion(self, body: bytes, model: str) -> Completion | None:
        answer = json_of(body)
        output = answer.get("output") if isinstance(answer, dict) else None
        message = output.get("message") if isinstance(output, dict) else None
        if not isinstance(message, dict):
            return None
        tokens = bedrock_usage(answer.get("usage"), self.name)
        texts, uses = [], []
        for block in message.get("content") or ():
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif isinstance(block, dict) and isinstance(block.get("toolUse"), dict):
                use = block["toolUse"]
                uses.append(tool_call(use.get("toolUseId"), use.get("name"), use.get("input")))
        reply = chat_completion(None, model, texts, uses, _finish(answer.get("stopReason")), tokens)
        return Completion(orjson.dumps(reply), tokens)

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> ConverseStream:
        return ConverseStream(self.name, model, include_usage)

    def invoke(self, model: str, body: dict[str, Any]) -> UpstreamCall:
        return self._signed("POST", f"{self._base}/model/{quote(model, safe='')}/invoke", orjson.dumps(body))

    def native(self, api: str) -> BedrockEmbeddings | None:
        return self._embeddings if api == "openai-embeddings" else None

    def models_call(self) -> UpstreamCall:
        return self._signed("GET", self._models_url, None)

    def models(self, body: bytes) -> bytes | None:
        return model_list(body, "modelSummaries", "modelId", "bedrock")

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        if status in (401, 403):
            return credentials_rejected(self.name, status)
        parsed = json_of(body)
        message = parsed.get("message", parsed.get("Message")) if isinstance(parsed, dict) else None
        if not isinstance(message, str):
            return unreadable_error(self.name, status, content_type, body, "an AWS JSON error")
        code = {400: "validation_error", 404: "not_found", 429: "throttling"}.get(status, "upstream_error")
        return UpstreamError(_STATUSES.get(status, 502), f"Upstream '{self.name}': {message[:1000]}", code)
